"""Settings of the Client App: the customer-facing REST API and the orders database."""

from common.deployment import CLIENT
from common.lifecycle import PaymentStatus, Status
from common.settings import *  # noqa: F403
from common.settings import (
    CONFIG,
    INSTALLED_APPS,
    REST_FRAMEWORK,
    SPECTACULAR_SETTINGS,
    database,
    service_logging,
    static_root,
)

PALMETTO_SERVICE = CLIENT
ROOT_URLCONF = f"{CLIENT.project}.urls"
WSGI_APPLICATION = f"{CLIENT.wsgi}.application"
INSTALLED_APPS = [*INSTALLED_APPS, "rest_framework.authtoken", "client_app.orders", "client_app.payments"]
DATABASES = {"default": database(CLIENT)}
STATIC_ROOT = static_root(CLIENT)
LOGGING = service_logging(CLIENT.name)
REST_FRAMEWORK = {
    **REST_FRAMEWORK,
    # Token first: its WWW-Authenticate header makes anonymous requests answer 401, not 403.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "client_app.orders.api.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_THROTTLE_RATES": {
        "order_create": CONFIG.order_rate,
        "auth_address": CONFIG.auth_rate,
        "auth_username": CONFIG.auth_failure_rate,
    },
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 20,
}
# The customer's pages (client_app/orders/web.py) log in with a Django session.
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "track-list"
LOGOUT_REDIRECT_URL = "login"
SPECTACULAR_SETTINGS = {
    **SPECTACULAR_SETTINGS,
    "TITLE": "Palmetto Client App API",
    "DESCRIPTION": "Order pizza from Palmetto and follow the order until it is delivered.",
    # Two choice sets are both called "status"; name them, so check --deploy (and the schema) stay clean.
    "ENUM_NAME_OVERRIDES": {
        "OrderStatusEnum": [s.value for s in Status],
        "PaymentStatusEnum": [s.value for s in PaymentStatus],
    },
}

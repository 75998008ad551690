"""Settings of the Client App: the customer-facing REST API and the orders database."""

from common.settings import *  # noqa: F403
from common.settings import INSTALLED_APPS, SPECTACULAR_SETTINGS, database, service_logging, static_root

ROOT_URLCONF = "client_app.urls"
WSGI_APPLICATION = "client_app.wsgi.application"
INSTALLED_APPS = [*INSTALLED_APPS, "client_app.orders"]
DATABASES = {"default": database("client")}
STATIC_ROOT = static_root("client")
LOGGING = service_logging("client")
PALMETTO_SERVICE = "client_app.orders.service.SERVICE"
SPECTACULAR_SETTINGS = {
    **SPECTACULAR_SETTINGS,
    "TITLE": "Palmetto Client App API",
    "DESCRIPTION": "Order pizza from Palmetto and follow the order until it is delivered.",
}

"""Settings of the Courier App: couriers and deliveries, in its own database."""

from common.deployment import COURIER
from common.settings import *  # noqa: F403
from common.settings import INSTALLED_APPS, database, service_logging, static_root

PALMETTO_SERVICE = COURIER
ROOT_URLCONF = f"{COURIER.project}.urls"
WSGI_APPLICATION = f"{COURIER.wsgi}.application"
INSTALLED_APPS = [*INSTALLED_APPS, "courier_app.delivery"]
DATABASES = {"default": database(COURIER)}
STATIC_ROOT = static_root(COURIER)
LOGGING = service_logging(COURIER.name)

"""Settings of the Courier App: couriers and deliveries, in its own database."""

from common.settings import *  # noqa: F403
from common.settings import INSTALLED_APPS, database, service_logging, static_root

ROOT_URLCONF = "courier_app.urls"
WSGI_APPLICATION = "courier_app.wsgi.application"
INSTALLED_APPS = [*INSTALLED_APPS, "courier_app.delivery"]
DATABASES = {"default": database("courier")}
STATIC_ROOT = static_root("courier")
LOGGING = service_logging("courier")
PALMETTO_SERVICE = "courier_app.delivery.service.SERVICE"

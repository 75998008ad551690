"""Settings of the Palmetto App: the kitchen, in its own database."""

from common.settings import *  # noqa: F403
from common.settings import INSTALLED_APPS, database, service_logging, static_root

ROOT_URLCONF = "palmetto_app.urls"
WSGI_APPLICATION = "palmetto_app.wsgi.application"
INSTALLED_APPS = [*INSTALLED_APPS, "palmetto_app.kitchen"]
DATABASES = {"default": database("palmetto")}
STATIC_ROOT = static_root("palmetto")
LOGGING = service_logging("palmetto")
PALMETTO_SERVICE = "palmetto_app.kitchen.service.SERVICE"

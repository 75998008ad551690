"""Settings of the Palmetto App: the kitchen, in its own database."""

from common.deployment import PALMETTO
from common.settings import *  # noqa: F403
from common.settings import INSTALLED_APPS, database, service_logging, static_root

PALMETTO_SERVICE = PALMETTO
ROOT_URLCONF = f"{PALMETTO.project}.urls"
WSGI_APPLICATION = f"{PALMETTO.wsgi}.application"
INSTALLED_APPS = [*INSTALLED_APPS, "palmetto_app.kitchen"]
DATABASES = {"default": database(PALMETTO)}
STATIC_ROOT = static_root(PALMETTO)
LOGGING = service_logging(PALMETTO.name)

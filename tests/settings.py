"""The Client App's settings plus the kitchen's and courier's apps, for in-process tests.

Each service's tables (outbox and inbox included) stay separate because every
app owns its own concrete models. The database is PostgreSQL, provisioned by
``tests/conftest.py``; timings are zero so nothing waits.
"""

import dataclasses

from client_app.settings import *  # noqa: F403
from client_app.settings import CONFIG, INSTALLED_APPS
from common.config import Timings
from common.settings import service_logging

INSTALLED_APPS = [*INSTALLED_APPS, "palmetto_app.kitchen", "courier_app.delivery"]
# Replaced by the provisioned cluster's address before the test database is created.
DATABASES = {"default": {"ENGINE": "django.db.backends.postgresql", "NAME": "palmetto_tests"}}
PALMETTO_CONFIG = dataclasses.replace(CONFIG, timings=Timings(0, 0, 0))
PALMETTO_SERVICE = None
LOGGING = service_logging("tests")
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

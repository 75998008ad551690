"""One Django project holding all three services' apps, for in-process tests.

Each service's tables (outbox and inbox included) stay separate because every
app owns its own concrete models. The database is PostgreSQL, provisioned by
``tests/conftest.py``; timings are zero so nothing waits.
"""

import dataclasses

from common.config import Timings
from common.settings import *  # noqa: F403
from common.settings import CONFIG, INSTALLED_APPS, service_logging

ROOT_URLCONF = "client_app.urls"
INSTALLED_APPS = [*INSTALLED_APPS, "client_app.orders", "palmetto_app.kitchen", "courier_app.delivery"]
# Replaced by the provisioned cluster's address before the test database is created.
DATABASES = {"default": {"ENGINE": "django.db.backends.postgresql", "NAME": "palmetto_tests"}}
PALMETTO_CONFIG = dataclasses.replace(CONFIG, timings=Timings(0, 0, 0))
LOGGING = service_logging("tests")
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

"""The Client App's settings plus the kitchen's and courier's apps, for in-process tests.

Each service's tables (outbox and inbox included) stay separate because every
app owns its own concrete models. The database is PostgreSQL, provisioned by
``tests/conftest.py``; timings are zero so nothing waits.
"""

import dataclasses
import os

# Services refuse to start with DEBUG off and no secret key; the suite (and the processes it starts,
# which inherit this environment) runs as production does, with a key of its own.
os.environ.setdefault("DJANGO_SECRET_KEY", "palmetto-test-suite-secret-key-not-for-production-use-0123456789")

from client_app.settings import *  # noqa: E402, F403
from client_app.settings import CONFIG, INSTALLED_APPS  # noqa: E402
from common.config import Timings  # noqa: E402
from common.settings import service_logging  # noqa: E402

INSTALLED_APPS = [*INSTALLED_APPS, "palmetto_app.kitchen", "courier_app.delivery"]
# Replaced by the provisioned cluster's address before the test database is created.
DATABASES = {"default": {"ENGINE": "django.db.backends.postgresql", "NAME": "palmetto_tests"}}
PALMETTO_CONFIG = dataclasses.replace(CONFIG, timings=Timings(0, 0, 0))
PALMETTO_SERVICE = None
LOGGING = service_logging("tests")
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

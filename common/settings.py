"""Django settings shared by the three services; each service's settings start from here.

Every value that varies between machines comes from :mod:`common.config`.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

from common import config as _config
from common.deployment import ServiceSpec

CONFIG = _config.load()
BASE_DIR = _config.BASE_DIR

SECRET_KEY = CONFIG.secret_key
DEBUG = CONFIG.debug
ALLOWED_HOSTS = list(CONFIG.allowed_hosts)

# Sessions, password resets and signed values all rest on the secret key: a production process
# (DEBUG off) must never run with the development key everyone can read in this repository.
if not DEBUG and SECRET_KEY == _config.DEVELOPMENT_SECRET_KEY:
    raise ImproperlyConfigured(
        "DJANGO_SECRET_KEY is not set: with DJANGO_DEBUG off a service needs its own secret key "
        "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(50))'), or set DJANGO_DEBUG=1 "
        "for development."
    )

# The production profile (PALMETTO_HTTPS=1): TLS ends at a proxy that sets X-Forwarded-Proto.
# With it `manage.py check --deploy` has nothing to report (tests/common/test_production.py).
if CONFIG.https:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = True
    # Load balancers probe over plain HTTP inside the network; a redirect would fail their checks.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = 31_536_000
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "common",
]

MIDDLEWARE = [
    # First, so it times everything and counts every response, refusals included.
    "common.metrics.RequestMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "common.http.CorrelationIdMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

# The admin's messages live in the session it has anyway: the default (cookie first) storage builds
# a cookie signer on every request, API calls included (5 % of a POST's CPU in py-spy).
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": f"django.contrib.auth.password_validation.{name}"}
    for name in (
        "UserAttributeSimilarityValidator",
        "MinimumLengthValidator",
        "CommonPasswordValidator",
        "NumericPasswordValidator",
    )
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REST_FRAMEWORK = {
    # JSON only: any other body is 415, and the schema documents exactly the one media type accepted.
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "common.schema.PalmettoAutoSchema",
    "EXCEPTION_HANDLER": "common.http.exception_handler",
}

SPECTACULAR_SETTINGS = {
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
}

# Django's email settings (the Client App emails customers; the others send nothing).
EMAIL_BACKEND = CONFIG.email.backend
EMAIL_HOST = CONFIG.email.host
EMAIL_PORT = CONFIG.email.port
EMAIL_HOST_USER = CONFIG.email.user
EMAIL_HOST_PASSWORD = CONFIG.email.password
EMAIL_USE_TLS = CONFIG.email.use_tls
EMAIL_USE_SSL = CONFIG.email.use_ssl
EMAIL_TIMEOUT = CONFIG.email.timeout
DEFAULT_FROM_EMAIL = CONFIG.email.from_address

# Shared by every worker process and host of a service: throttle counts (the login and order limits)
# live in the service's own database, in the table the `common` app's migration creates.
CACHE_TABLE = "palmetto_cache"
# MAX_ENTRIES: an entry is one client's throttle count, and culling live ones (Django's default
# keeps 300) would let a busy evening's customers past their limits; expired entries are culled anyway.
CACHES = {
    "default": {
        "BACKEND": "common.cache.UpsertDatabaseCache", "LOCATION": CACHE_TABLE, "OPTIONS": {"MAX_ENTRIES": 100_000},
    }
}

# The one way code reads the configuration: settings.PALMETTO_CONFIG (tests replace it with dataclasses.replace).
PALMETTO_CONFIG = CONFIG
# The service this project runs: its row of common.deployment (each service's settings set it).
PALMETTO_SERVICE = None


def service_logging(service: str) -> dict:
    """Logging config: every line names the service and the order's correlation ID."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"correlation": {"()": "common.correlation.CorrelationFilter"}},
        "formatters": {
            "plain": {
                "format": f"%(asctime)s %(levelname)s [{service}] [cid=%(correlation_id)s] %(name)s: %(message)s"
            },
        },
        "handlers": {
            "console": {"class": "logging.StreamHandler", "filters": ["correlation"], "formatter": "plain"},
        },
        "root": {"handlers": ["console"], "level": CONFIG.log_level},
        "loggers": {"django.db.backends": {"level": "WARNING"}},
    }


LOGGING = service_logging("palmetto")


def database(service: ServiceSpec) -> dict:
    """The service's database: its ``*_DATABASE_URL`` when set, else a local SQLite file."""
    url = CONFIG.database_url(service.name)
    if not url:
        path = Path(BASE_DIR) / "var" / f"{service.name}.sqlite3"
        path.parent.mkdir(exist_ok=True)
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": str(path), "OPTIONS": {"timeout": 20}}
    return parse_database_url(url)


def parse_database_url(url: str, *, lock_timeout_ms: int = CONFIG.db_lock_timeout_ms) -> dict:
    """``postgresql://user:password@host:port/name?sslmode=...`` as a Django ``DATABASES`` entry.

    Query parameters become connection options; every connection also gets
    ``lock_timeout`` (``PALMETTO_DB_LOCK_TIMEOUT_MS``) unless the URL sets ``options`` itself.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql"):
        raise _config.ConfigError(f"unsupported database URL scheme {parts.scheme!r}; use postgresql://")
    name = unquote(parts.path.lstrip("/"))
    if not name:
        raise _config.ConfigError(f"database URL {url!r} names no database")
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": name,
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname or "",
        "PORT": str(parts.port or ""),
        # server_side_binding: parameters travel apart from the SQL, so psycopg does not quote every value
        # into the text in Python. prepare_threshold: a statement run that many times on a connection is
        # prepared, so PostgreSQL stops parsing, analysing and planning it anew on every run (that was a
        # third of its CPU under the benchmark). psycopg's default is 5, but Django turns preparing off
        # unless OPTIONS asks for it; ?prepare_threshold=none turns it off again (e.g. behind a pooler
        # in transaction mode, which cannot keep a connection's prepared statements).
        "OPTIONS": {"options": f"-c lock_timeout={lock_timeout_ms}", "server_side_binding": True,
                    "prepare_threshold": 5}
        | {k: _connection_option(k, v[-1]) for k, v in parse_qs(parts.query).items()},
        # Keep connections across requests and batches; consumers still call close_old_connections. Each
        # renewal costs a server process start and the connection's prepared statements: at 60 s, the
        # two dozen connections of an idle platform were renewed every minute. A connection that breaks
        # is replaced after its first error anyway, whatever its age (see CONN_HEALTH_CHECKS).
        "CONN_MAX_AGE": 600,
        # No "SELECT 1" before each request's first query (a round trip on every request). Django still
        # checks a connection after any database error (close_old_connections closes it if it no longer
        # answers) and never reuses one older than CONN_MAX_AGE, so a connection broken while idle (the
        # server restarted) costs one request a 503 database_unavailable, and a batch a retry, then is replaced.
        "CONN_HEALTH_CHECKS": False,
    }


def _connection_option(name: str, raw: str) -> object:
    """A database URL's query parameter as the connection option it sets: text, except the two
    options psycopg and Django read as a number or a flag."""
    if name == "prepare_threshold":
        if raw.lower() in ("", "none", "off"):
            return None
        try:
            return int(raw)
        except ValueError:
            raise _config.ConfigError(f"database URL: prepare_threshold={raw!r} is not a number or none") from None
    if name == "server_side_binding":
        if raw.lower() not in ("true", "false", "1", "0", "on", "off", "yes", "no"):
            raise _config.ConfigError(f"database URL: server_side_binding={raw!r} is not true or false")
        return raw.lower() in ("true", "1", "on", "yes")
    return raw


def static_root(service: ServiceSpec) -> str:
    """Where ``collectstatic`` puts the service's admin and API assets."""
    return str(Path(BASE_DIR) / "var" / "static" / service.name)

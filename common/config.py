"""Configuration from the environment, read in exactly one place.

Every knob the platform has is listed in :class:`Config`; settings modules and
the stack runner read it through :func:`load`. Nothing else reads ``os.environ``
for configuration, so this file is the complete list of what an operator can set.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType

from common.deployment import SERVICES

BASE_DIR = Path(__file__).resolve().parent.parent


class ConfigError(ValueError):
    """An environment variable holds a value the platform cannot use."""


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name}={raw!r} is not a boolean (use 1/0, true/false)")


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number of seconds") from None
    if value < 0:
        raise ConfigError(f"{name}={raw!r} must not be negative")
    return value


@dataclass(frozen=True)
class Timings:
    """How long each stage of an order takes, in seconds (0 = as soon as possible).

    Kitchen and courier stages are durable timers: the moment a stage is due is
    stored in the database, so a restarted worker resumes them.
    """

    kitchen_accept_to_prepare: float = 1.0
    kitchen_prepare: float = 6.0
    courier_travel: float = 8.0


SECURITY_PROTOCOLS = ("PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL", "SSL")
SASL_MECHANISMS = ("SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN")
# Written where no real secret is configured; a service with DJANGO_DEBUG off refuses to start with it.
DEVELOPMENT_SECRET_KEY = "palmetto-insecure-development-key-change-me"


@dataclass(frozen=True)
class KafkaSecurity:
    """How this process authenticates to Kafka: one principal per service (see ``common/kafka/acl.py``).

    ``PLAINTEXT`` (the default) sends no credentials; ``SASL_*`` log in as
    ``username`` with ``sasl_mechanism``; ``*SSL`` verify the broker against
    ``ca_location`` and, where given, present a client certificate.
    """

    protocol: str = "PLAINTEXT"
    sasl_mechanism: str = "SCRAM-SHA-512"
    username: str | None = None
    password: str | None = None
    ca_location: str | None = None
    certificate_location: str | None = None
    key_location: str | None = None

    @property
    def uses_sasl(self) -> bool:
        return self.protocol.startswith("SASL_")

    @property
    def uses_tls(self) -> bool:
        return self.protocol.endswith("SSL")

    def __repr__(self) -> str:  # never print the password
        return f"KafkaSecurity(protocol={self.protocol!r}, username={self.username!r})"


def _kafka_security(env: Mapping[str, str]) -> KafkaSecurity:
    protocol = (env.get("KAFKA_SECURITY_PROTOCOL") or "PLAINTEXT").upper()
    if protocol not in SECURITY_PROTOCOLS:
        raise ConfigError(f"KAFKA_SECURITY_PROTOCOL={protocol!r}: use one of {', '.join(SECURITY_PROTOCOLS)}")
    mechanism = (env.get("KAFKA_SASL_MECHANISM") or "SCRAM-SHA-512").upper()
    if mechanism not in SASL_MECHANISMS:
        raise ConfigError(f"KAFKA_SASL_MECHANISM={mechanism!r}: use one of {', '.join(SASL_MECHANISMS)}")
    security = KafkaSecurity(
        protocol=protocol,
        sasl_mechanism=mechanism,
        username=env.get("KAFKA_SASL_USERNAME") or None,
        password=env.get("KAFKA_SASL_PASSWORD") or None,
        ca_location=env.get("KAFKA_SSL_CA_LOCATION") or None,
        certificate_location=env.get("KAFKA_SSL_CERTIFICATE_LOCATION") or None,
        key_location=env.get("KAFKA_SSL_KEY_LOCATION") or None,
    )
    if security.uses_sasl and not (security.username and security.password):
        raise ConfigError(f"KAFKA_SECURITY_PROTOCOL={protocol} needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD")
    return security


@dataclass(frozen=True)
class Email:
    """Django's email settings, as the environment gives them (the names are Django's own)."""

    backend: str
    host: str
    port: int
    user: str
    password: str
    use_tls: bool
    use_ssl: bool
    timeout: float
    from_address: str


@dataclass(frozen=True)
class Config:
    secret_key: str
    debug: bool
    allowed_hosts: tuple[str, ...]
    kafka_bootstrap_servers: str | None
    # How this process authenticates to Kafka (every client it creates uses it).
    kafka_security: KafkaSecurity
    # SCRAM passwords of the platform's principals, by principal name, for ``manage.py kafkasecurity``
    # (which creates the users); a service itself needs only its own KAFKA_SASL_* pair.
    kafka_principal_passwords: Mapping[str, str]
    topic_prefix: str
    database_urls: Mapping[str, str | None]
    timings: Timings
    currency: str
    delivery_fee: Decimal
    free_delivery_from: Decimal
    log_level: str
    serve_static: bool
    # How long a producer keeps retrying one message before reporting failure.
    kafka_message_timeout_ms: int
    # PostgreSQL lock_timeout of every connection: a statement waiting longer for a row lock fails
    # (a transient error: the request answers 503, a consumer rolls back and retries with back-off)
    # instead of hanging a worker behind a stuck transaction. 0 = wait forever.
    db_lock_timeout_ms: int
    # Fault injection, for the test suite only: a consumer process exits abruptly (status 86) after
    # this many batches were committed to the database but before their offsets were. 0 = never.
    crash_before_offset_commit: int
    # How much runconsumers lowers its own CPU priority (0-19, added to its nice; see common.priority):
    # on a host shared with the Client API, the pipeline yields to customers' requests under load.
    worker_nice: int
    # DRF throttle rate for placing orders, per customer ("60/minute").
    order_rate: str
    # Logins and registrations per client address, and failed ones per username (brute-force limits).
    auth_rate: str
    auth_failure_rate: str
    # Local stack only (python -m common.devstack): web ports by service name and the admin account it creates.
    web_ports: Mapping[str, int]
    admin_username: str
    admin_password: str
    # Port each service's runconsumers serves Prometheus metrics on (0: none).
    metrics_ports: Mapping[str, int]
    # Who may read a web service's /metrics without a staff login: client addresses in these networks.
    metrics_allowed_networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
    # Customer email (Django's email settings): the console backend prints mail unless EMAIL_HOST is set.
    email: Email
    # Where customers reach the Client App (links in their emails).
    public_url: str
    # Behind a TLS-terminating proxy: trust X-Forwarded-Proto, redirect to HTTPS, secure cookies, HSTS.
    https: bool
    # Local stack only: provision a SASL/SCRAM broker with ACLs and run each service as its own principal.
    stack_secure: bool

    def database_url(self, service: str) -> str | None:
        return self.database_urls.get(service)


# ``manage.py kafkasecurity``: the SCRAM password of each principal it creates (see common/kafka/acl.py).
PRINCIPAL_PASSWORD_ENV = {
    **{s.name: f"PALMETTO_KAFKA_{s.name.upper()}_PASSWORD" for s in SERVICES},
    "operator": "PALMETTO_KAFKA_OPERATOR_PASSWORD",
}


def _port(env: Mapping[str, str], name: str, default: int, *, allow_zero: bool = False) -> int:
    raw = env.get(name) or str(default)
    if not raw.isdigit() or not (0 if allow_zero else 1) <= int(raw) < 65536:
        raise ConfigError(f"{name}={raw!r} is not a TCP port")
    return int(raw)


def _count(env: Mapping[str, str], name: str, default: int = 0) -> int:
    raw = env.get(name) or str(default)
    if not raw.isdigit():
        raise ConfigError(f"{name}={raw!r} is not a whole number")
    return int(raw)


def _nice(env: Mapping[str, str], name: str) -> int:
    raw = env.get(name) or "0"
    if not raw.isdigit() or int(raw) > 19:
        raise ConfigError(f"{name}={raw!r} is not a nice increment from 0 to 19")
    return int(raw)


def _rate(env: Mapping[str, str], name: str, default: str) -> str:
    raw = env.get(name) or default
    count, _, period = raw.partition("/")
    if not count.isdigit() or period not in ("second", "minute", "hour", "day"):
        raise ConfigError(f"{name}={raw!r} is not a rate like 60/minute")
    return raw


def _networks(env: Mapping[str, str], name: str, default: str) -> tuple:
    raw = env.get(name) or default
    try:
        return tuple(ipaddress.ip_network(part.strip(), strict=False) for part in raw.split(",") if part.strip())
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a comma-separated list of networks like 10.0.0.0/8") from None


def _email(env: Mapping[str, str]) -> Email:
    host = env.get("EMAIL_HOST", "")
    console = "django.core.mail.backends.console.EmailBackend"
    smtp = "django.core.mail.backends.smtp.EmailBackend"
    return Email(
        backend=env.get("EMAIL_BACKEND") or (smtp if host else console),
        host=host or "localhost",
        port=_port(env, "EMAIL_PORT", 25),
        user=env.get("EMAIL_HOST_USER", ""),
        password=env.get("EMAIL_HOST_PASSWORD", ""),
        use_tls=_bool(env, "EMAIL_USE_TLS", False),
        use_ssl=_bool(env, "EMAIL_USE_SSL", False),
        timeout=_seconds(env, "EMAIL_TIMEOUT", 10.0),
        from_address=env.get("DEFAULT_FROM_EMAIL", "Palmetto <orders@palmetto.invalid>"),
    )


def load(env: Mapping[str, str] | None = None) -> Config:
    """Read the configuration from ``env`` (default: the process environment)."""
    env = os.environ if env is None else env
    prefix = env.get("PALMETTO_TOPIC_PREFIX", "")
    if prefix and not all(c.isalnum() or c in "._-" for c in prefix):
        raise ConfigError(f"PALMETTO_TOPIC_PREFIX={prefix!r} may hold only letters, digits, '.', '_' and '-'")
    timeout_raw = env.get("PALMETTO_KAFKA_MESSAGE_TIMEOUT_MS", "30000")
    if not timeout_raw.isdigit():
        raise ConfigError(f"PALMETTO_KAFKA_MESSAGE_TIMEOUT_MS={timeout_raw!r} is not a whole number")
    try:
        delivery_fee = Decimal(env.get("PALMETTO_DELIVERY_FEE", "3.50"))
        free_from = Decimal(env.get("PALMETTO_FREE_DELIVERY_FROM", "40.00"))
    except ArithmeticError:
        raise ConfigError("PALMETTO_DELIVERY_FEE and PALMETTO_FREE_DELIVERY_FROM must be decimal amounts") from None
    return Config(
        secret_key=env.get("DJANGO_SECRET_KEY") or DEVELOPMENT_SECRET_KEY,
        debug=_bool(env, "DJANGO_DEBUG", False),
        allowed_hosts=tuple(
            h for h in env.get("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver").split(",") if h
        ),
        kafka_bootstrap_servers=env.get("KAFKA_BOOTSTRAP_SERVERS") or None,
        kafka_security=_kafka_security(env),
        kafka_principal_passwords=MappingProxyType(
            {name: env[variable] for name, variable in PRINCIPAL_PASSWORD_ENV.items() if env.get(variable)}
        ),
        topic_prefix=prefix,
        database_urls={s.name: env.get(s.database_env) or None for s in SERVICES},
        timings=Timings(
            kitchen_accept_to_prepare=_seconds(
                env, "PALMETTO_KITCHEN_ACCEPT_SECONDS", Timings.kitchen_accept_to_prepare
            ),
            kitchen_prepare=_seconds(env, "PALMETTO_KITCHEN_PREPARE_SECONDS", Timings.kitchen_prepare),
            courier_travel=_seconds(env, "PALMETTO_COURIER_TRAVEL_SECONDS", Timings.courier_travel),
        ),
        currency=env.get("PALMETTO_CURRENCY", "EUR"),
        delivery_fee=delivery_fee,
        free_delivery_from=free_from,
        log_level=env.get("PALMETTO_LOG_LEVEL", "INFO").upper(),
        serve_static=_bool(env, "PALMETTO_SERVE_STATIC", False),
        kafka_message_timeout_ms=int(timeout_raw),
        db_lock_timeout_ms=_count(env, "PALMETTO_DB_LOCK_TIMEOUT_MS", 5000),
        web_ports=MappingProxyType({s.name: _port(env, s.port_env, s.web_port) for s in SERVICES}),
        order_rate=_rate(env, "PALMETTO_ORDER_RATE", "60/minute"),
        auth_rate=_rate(env, "PALMETTO_AUTH_RATE", "20/minute"),
        auth_failure_rate=_rate(env, "PALMETTO_AUTH_FAILURE_RATE", "10/hour"),
        crash_before_offset_commit=_count(env, "PALMETTO_FAULT_CRASH_BEFORE_OFFSET_COMMIT"),
        worker_nice=_nice(env, "PALMETTO_WORKER_NICE"),
        admin_username=env.get("PALMETTO_ADMIN_USERNAME", "admin"),
        admin_password=env.get("PALMETTO_ADMIN_PASSWORD", "palmetto"),
        metrics_ports=MappingProxyType(
            {s.name: _port(env, s.metrics_port_env, s.metrics_port, allow_zero=True) for s in SERVICES}
        ),
        metrics_allowed_networks=_networks(env, "PALMETTO_METRICS_ALLOWED_NETWORKS", "127.0.0.0/8,::1/128"),
        email=_email(env),
        public_url=(env.get("PALMETTO_PUBLIC_URL") or "http://127.0.0.1:8000").rstrip("/"),
        stack_secure=_bool(env, "PALMETTO_STACK_SECURE", False),
        https=_bool(env, "PALMETTO_HTTPS", False),
    )

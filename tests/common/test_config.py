"""Configuration is read from the environment in one place, with clear errors."""

from decimal import Decimal

import pytest

from common.config import ConfigError, load
from common.settings import parse_database_url


def test_defaults_need_no_environment():
    config = load({})
    assert config.kafka_bootstrap_servers is None
    assert config.topic_prefix == ""
    assert config.database_url("client") is None
    assert config.currency == "EUR"
    assert config.delivery_fee == Decimal("3.50")
    assert config.worker_nice == 0


def test_values_come_from_the_environment():
    config = load(
        {
            "KAFKA_BOOTSTRAP_SERVERS": "k:9092",
            "PALMETTO_TOPIC_PREFIX": "staging.",
            "COURIER_DATABASE_URL": "postgresql://u@h/c",
            "PALMETTO_KITCHEN_PREPARE_SECONDS": "0",
            "PALMETTO_WORKER_NICE": "5",
        }
    )
    assert config.kafka_bootstrap_servers == "k:9092"
    assert config.topic_prefix == "staging."
    assert config.database_url("courier") == "postgresql://u@h/c"
    assert config.timings.kitchen_prepare == 0
    assert config.worker_nice == 5


@pytest.mark.parametrize(
    "env",
    [
        {"PALMETTO_TOPIC_PREFIX": "bad prefix"},
        {"PALMETTO_KITCHEN_PREPARE_SECONDS": "soon"},
        {"PALMETTO_COURIER_TRAVEL_SECONDS": "-1"},
        {"DJANGO_DEBUG": "maybe"},
        {"PALMETTO_DELIVERY_FEE": "cheap"},
        {"PALMETTO_DB_LOCK_TIMEOUT_MS": "5s"},
        {"KAFKA_SECURITY_PROTOCOL": "TLS"},
        {"KAFKA_SASL_MECHANISM": "GSSAPI"},
        {"KAFKA_SECURITY_PROTOCOL": "SASL_SSL"},  # without a username and password
        {"PALMETTO_AUTH_RATE": "lots"},
        {"PALMETTO_WORKER_NICE": "20"},
        {"PALMETTO_WORKER_NICE": "-5"},
    ],
)
def test_bad_values_are_refused_with_the_variable_named(env):
    with pytest.raises(ConfigError, match=next(iter(env))):
        load(env)


def test_database_url_parsing():
    assert load({}).db_lock_timeout_ms == 5000
    db = parse_database_url("postgresql://pal%40m:s3cret@db.example:6543/orders?sslmode=require", lock_timeout_ms=5000)
    assert (db["USER"], db["PASSWORD"], db["HOST"], db["PORT"], db["NAME"]) == (
        "pal@m",
        "s3cret",
        "db.example",
        "6543",
        "orders",
    )
    assert db["OPTIONS"] == {
        "sslmode": "require", "options": "-c lock_timeout=5000", "server_side_binding": True, "prepare_threshold": 5
    }
    assert parse_database_url("postgresql://h/o", lock_timeout_ms=250)["OPTIONS"] == {
        "options": "-c lock_timeout=250", "server_side_binding": True, "prepare_threshold": 5
    }
    assert parse_database_url("postgresql://h/o?options=-c%20search_path%3Dx")["OPTIONS"] == {
        "options": "-c search_path=x", "server_side_binding": True, "prepare_threshold": 5
    }
    with pytest.raises(ConfigError):
        parse_database_url("mysql://x/y")


def test_database_url_options_that_are_not_text():
    options = parse_database_url("postgresql://h/o?server_side_binding=false&prepare_threshold=none")["OPTIONS"]
    assert options["server_side_binding"] is False and options["prepare_threshold"] is None
    options = parse_database_url("postgresql://h/o?server_side_binding=on&prepare_threshold=2")["OPTIONS"]
    assert options["server_side_binding"] is True and options["prepare_threshold"] == 2
    for bad in ("server_side_binding=maybe", "prepare_threshold=often"):
        with pytest.raises(ConfigError, match=bad.split("=")[0]):
            parse_database_url(f"postgresql://h/o?{bad}")


def test_metrics_and_email_settings():
    defaults = load({})
    assert dict(defaults.metrics_ports) == {"client": 8100, "palmetto": 8101, "courier": 8102}
    assert [str(n) for n in defaults.metrics_allowed_networks] == ["127.0.0.0/8", "::1/128"]
    assert defaults.email.backend.endswith("console.EmailBackend")
    config = load({
        "PALMETTO_PALMETTO_METRICS_PORT": "0", "PALMETTO_METRICS_ALLOWED_NETWORKS": "10.0.0.0/8, 192.168.1.7",
        "EMAIL_HOST": "smtp.example.org", "EMAIL_PORT": "587", "EMAIL_USE_TLS": "1",
    })
    assert config.metrics_ports["palmetto"] == 0
    assert [str(n) for n in config.metrics_allowed_networks] == ["10.0.0.0/8", "192.168.1.7/32"]
    assert config.email.backend.endswith("smtp.EmailBackend") and config.email.port == 587 and config.email.use_tls


@pytest.mark.parametrize("env", [
    {"PALMETTO_METRICS_ALLOWED_NETWORKS": "everyone"},
    {"PALMETTO_CLIENT_METRICS_PORT": "99999"},
    {"EMAIL_PORT": "smtp"},
    {"EMAIL_USE_TLS": "maybe"},
])
def test_bad_metrics_and_email_settings_are_refused(env):
    with pytest.raises(ConfigError, match=next(iter(env))):
        load(env)


def test_kafka_security_reaches_every_client_setting():
    from common.kafka.settings import base

    plain = load({})
    assert plain.kafka_security.protocol == "PLAINTEXT"
    assert base("k:9092", "c", security=plain.kafka_security)["security.protocol"] == "plaintext"
    secured = load({
        "KAFKA_SECURITY_PROTOCOL": "sasl_ssl", "KAFKA_SASL_USERNAME": "palmetto-client",
        "KAFKA_SASL_PASSWORD": "s3cret", "KAFKA_SSL_CA_LOCATION": "/etc/ca.pem",
        "PALMETTO_KAFKA_OPERATOR_PASSWORD": "op",
    }).kafka_security  # fmt: skip
    settings = base("k:9092", "c", security=secured)
    assert settings["security.protocol"] == "sasl_ssl" and settings["sasl.mechanism"] == "SCRAM-SHA-512"
    assert (settings["sasl.username"], settings["sasl.password"]) == ("palmetto-client", "s3cret")
    assert settings["ssl.ca.location"] == "/etc/ca.pem" and "ssl.key.location" not in settings
    assert "s3cret" not in repr(secured)


def test_every_kafka_client_starts_from_the_one_settings_function():
    """No module of the runtime builds a librdkafka client from a hand-written config."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "common"
    offenders = []
    for path in root.rglob("*.py"):
        if "devstack" in path.parts:
            continue  # provisioning talks to the broker it started, as its super user
        text = path.read_text()
        if re.search(r"\b(Consumer|_Producer|AdminClient)\(\s*\{", text):
            offenders.append(str(path))
    assert offenders == []

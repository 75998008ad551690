"""librdkafka configuration shared by every client the platform creates.

:func:`base` is the one place a client's connection settings come from:
consumers, producers, the admin client, the read-only tools and the operator
commands all start from it, so the security settings of the process
(``KAFKA_SECURITY_PROTOCOL`` and friends, :class:`common.config.KafkaSecurity`)
reach every one of them.
"""

from __future__ import annotations

import logging
from typing import Any

from confluent_kafka import KafkaError

from common.config import KafkaSecurity

log = logging.getLogger("palmetto.kafka")

# Errors that mean "these credentials may not do this": retrying will not help, an operator must act.
AUTHORIZATION_ERRORS = frozenset(
    {
        KafkaError.TOPIC_AUTHORIZATION_FAILED,
        KafkaError.GROUP_AUTHORIZATION_FAILED,
        KafkaError.CLUSTER_AUTHORIZATION_FAILED,
        KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
        KafkaError.SASL_AUTHENTICATION_FAILED,
        KafkaError._AUTHENTICATION,
    }
)


def log_client_error(err: KafkaError) -> None:
    """``error_cb``: librdkafka reports broker trouble here and keeps retrying on its own."""
    if err.code() == KafkaError._ALL_BROKERS_DOWN:
        log.warning("all Kafka brokers are down; waiting for them to come back")
    elif err.code() in AUTHORIZATION_ERRORS:
        log.error("Kafka refused this client's credentials or rights: %s", err)
    else:
        log.warning("Kafka client error: %s", err)


def configured_security() -> KafkaSecurity:
    """The process's Kafka security: ``settings.PALMETTO_CONFIG`` under Django, else the environment."""
    from django.conf import settings

    if settings.configured:
        return settings.PALMETTO_CONFIG.kafka_security
    from common import config

    return config.load().kafka_security


def security_settings(security: KafkaSecurity) -> dict[str, Any]:
    """The librdkafka properties for ``security`` (for PLAINTEXT, only ``security.protocol``)."""
    properties: dict[str, Any] = {"security.protocol": security.protocol.lower()}
    if security.uses_sasl:
        properties |= {
            "sasl.mechanism": security.sasl_mechanism,
            "sasl.username": security.username,
            "sasl.password": security.password,
        }
    if security.uses_tls:
        for key, value in (
            ("ssl.ca.location", security.ca_location),
            ("ssl.certificate.location", security.certificate_location),
            ("ssl.key.location", security.key_location),
        ):
            if value:
                properties[key] = value
    return properties


def base(bootstrap_servers: str, client_id: str, *, security: KafkaSecurity | None = None) -> dict[str, Any]:
    """Settings every client starts from; ``security`` defaults to the process's (:func:`configured_security`)."""
    return {
        "bootstrap.servers": bootstrap_servers,
        "client.id": client_id,
        "error_cb": log_client_error,
        # Lost connections to a restarted broker are normal here; keep logs readable.
        "log.connection.close": False,
    } | security_settings(security or configured_security())

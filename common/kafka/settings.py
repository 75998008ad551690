"""librdkafka configuration shared by every client the platform creates."""

from __future__ import annotations

import logging
from typing import Any

from confluent_kafka import KafkaError

log = logging.getLogger("palmetto.kafka")


def log_client_error(err: KafkaError) -> None:
    """``error_cb``: librdkafka reports broker trouble here and keeps retrying on its own."""
    if err.code() == KafkaError._ALL_BROKERS_DOWN:
        log.warning("all Kafka brokers are down; waiting for them to come back")
    else:
        log.warning("Kafka client error: %s", err)


def base(bootstrap_servers: str, client_id: str) -> dict[str, Any]:
    return {
        "bootstrap.servers": bootstrap_servers,
        "client.id": client_id,
        "error_cb": log_client_error,
        # Lost connections to a restarted broker are normal here; keep logs readable.
        "log.connection.close": False,
    }

"""What the platform's management commands share: the broker they talk to, the service they run as,
and one wording for Kafka trouble, so every command fails with the same clear ``CommandError``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.core.management.base import CommandError, CommandParser

from common.declaration import Service, current_service
from common.kafka.readonly import BrokerUnavailable, UnknownTopic


def bootstrap_servers() -> str:
    """The configured Kafka bootstrap servers; ``CommandError`` when none are."""
    bootstrap = settings.PALMETTO_CONFIG.kafka_bootstrap_servers
    if not bootstrap:
        raise CommandError("KAFKA_BOOTSTRAP_SERVERS is not set")
    return bootstrap


def this_service() -> Service:
    """The service the command runs as (from ``--settings``); ``CommandError`` when it runs as none."""
    try:
        return current_service()
    except RuntimeError as exc:
        raise CommandError(str(exc)) from exc


def add_timeout_argument(parser: CommandParser) -> None:
    parser.add_argument("--timeout", type=float, default=5.0, metavar="SECONDS",
                        help="How long to wait for Kafka to answer (default 5).")


@contextmanager
def kafka_errors(bootstrap: str) -> Iterator[None]:
    """Turn an unreachable broker or a missing topic into a ``CommandError`` that says which."""
    try:
        yield
    except BrokerUnavailable as exc:
        raise CommandError(f"Kafka at {bootstrap} is unreachable: {exc}") from exc
    except UnknownTopic as exc:
        raise CommandError(f"topic {exc} does not exist (run createtopics)") from exc

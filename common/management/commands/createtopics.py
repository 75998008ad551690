"""Create the platform's Kafka topics (3 partitions each, plus dead-letter topics).

Broker auto-creation is off on purpose -- a typo must not silently create a
one-partition topic that breaks per-order ordering -- so topics are created
explicitly here. Safe to run any number of times; the stack and the tests use it.
"""

from __future__ import annotations

from confluent_kafka import KafkaException
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from common.kafka.admin import TopicMismatch, ensure_topics
from common.management.kafka import bootstrap_servers


class Command(BaseCommand):
    help = "Create missing Palmetto topics with 3 partitions and check existing ones."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--replication-factor", type=int, default=1, help="For new topics (default 1).")

    def handle(self, *args, **options) -> None:
        bootstrap = bootstrap_servers()
        try:
            states = ensure_topics(
                bootstrap, settings.PALMETTO_CONFIG.topic_prefix, replication_factor=options["replication_factor"]
            )
        except TopicMismatch as exc:
            raise CommandError(str(exc)) from exc
        except KafkaException as exc:
            raise CommandError(f"Kafka at {bootstrap} is unreachable: {exc}") from exc
        for state in states:
            verb = "created" if state.created else "exists "
            self.stdout.write(f"{verb} {state.name} ({state.partitions} partitions)")

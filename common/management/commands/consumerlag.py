"""Show how far this service's consumers are behind, per topic and partition.

Why it exists: consumers commit offsets only after their database commit and
never skip a message, so a partition that stops moving (a message retried in
place while the database is down, a halted consumer, a worker host that is
gone -- pinned partitions have no group failover) shows up as growing lag, not
as errors anywhere else. This reads the service's consumer group's committed
offsets and the topics' end offsets without joining the group or committing.

    python manage.py consumerlag --settings=palmetto_app.settings
    python manage.py consumerlag --settings=client_app.settings --json

A partition the group never committed on shows committed ``-`` and counts
everything stored as lag (the consumers start from the beginning there).
"""

from __future__ import annotations

import json

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from common.kafka.inspect import BrokerUnavailable, UnknownTopic
from common.kafka.lag import GroupLag, group_lag
from common.service import current_service
from common.topics import consumer_group


class Command(BaseCommand):
    help = "Committed offset, end offset and lag of this service's consumer group, per topic and partition."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="Print JSON instead of a table.")
        parser.add_argument("--timeout", type=float, default=5.0, metavar="SECONDS",
                            help="How long to wait for Kafka to answer (default 5).")

    def handle(self, *args, **options) -> None:
        bootstrap = settings.PALMETTO_KAFKA_BOOTSTRAP_SERVERS
        if not bootstrap:
            raise CommandError("KAFKA_BOOTSTRAP_SERVERS is not set")
        try:
            service = current_service()
        except RuntimeError as exc:
            raise CommandError(str(exc)) from exc
        prefix = settings.PALMETTO_TOPIC_PREFIX
        topics = [s.topic.full_name(prefix) for s in service.subscriptions]
        try:
            lag = group_lag(bootstrap, consumer_group(prefix, service.name), topics, timeout=options["timeout"])
        except BrokerUnavailable as exc:
            raise CommandError(f"Kafka at {bootstrap} is unreachable: {exc}") from exc
        except UnknownTopic as exc:
            raise CommandError(f"topic {exc} does not exist (run createtopics)") from exc
        self.stdout.write(as_json(service.name, lag) if options["json"] else as_table(service.name, lag))


def as_json(service: str, lag: GroupLag) -> str:
    return json.dumps(
        {
            "service": service,
            "group": lag.group,
            "partitions": [
                {"topic": p.topic, "partition": p.partition, "committed": p.committed, "start": p.start, "end": p.end,
                 "lag": p.lag}
                for p in lag.partitions
            ],
            "total_lag": lag.total,
        },
        indent=2,
    )


def as_table(service: str, lag: GroupLag) -> str:
    rows = [("topic", "partition", "committed", "end", "lag")]
    rows += [
        (p.topic, str(p.partition), "-" if p.committed is None else str(p.committed), str(p.end), str(p.lag))
        for p in lag.partitions
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [f"service {service}, consumer group {lag.group}"]
    lines += ["  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths)))
              for row in rows]
    lines.append(f"total lag {lag.total}")
    return "\n".join(lines)

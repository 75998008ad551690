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
from django.core.management.base import BaseCommand, CommandParser

from common.kafka.lag import GroupLag, group_lag
from common.management.kafka import add_timeout_argument, bootstrap_servers, kafka_errors, this_service
from common.topics import consumer_group


class Command(BaseCommand):
    help = "Committed offset, end offset and lag of this service's consumer group, per topic and partition."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="Print JSON instead of a table.")
        add_timeout_argument(parser)

    def handle(self, *args, **options) -> None:
        bootstrap, service = bootstrap_servers(), this_service()
        prefix = settings.PALMETTO_CONFIG.topic_prefix
        topics = [s.topic.full_name(prefix) for s in service.subscriptions]
        with kafka_errors(bootstrap):
            lag = group_lag(bootstrap, consumer_group(prefix, service.name), topics, timeout=options["timeout"])
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
    lines += [
        "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    ]
    lines.append(f"total lag {lag.total}")
    return "\n".join(lines)

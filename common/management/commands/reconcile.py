"""Re-publish the last event of this service's orders that have not moved for a while.

Why it exists: every producer uses ``acks=1`` (the customer's choice), so a
leader failover can lose a message Kafka had already acknowledged. The outbox
row is then marked sent, nothing publishes it again, and the order waits
forever on the other side. This command finds this service's orders whose
last change is older than ``--older-than`` but within ``--within`` -- which
orders qualify is the service's own declaration, ``Service.stuck_orders`` --
and marks the newest outbox row of each event type of each unsent again, so the relay inside
``runconsumers`` publishes it once more with the SAME ``event_id``. A consumer
that already applied it finds it in its inbox and skips it; one that lost it
applies it now. So it is harmless for orders that were not stuck at all, and
safe to run from cron.

    python manage.py reconcile --settings=palmetto_app.settings --dry-run
    python manage.py reconcile --settings=client_app.settings --older-than 600 --within 3600
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from common.management.kafka import this_service
from common.models import OutboxMessage
from common.outbox import outbox_latest, outbox_republish_latest


def describe(row: OutboxMessage) -> str:
    """``OrderPlaced``, or ``OrderStatusChanged READY_FOR_DELIVERY`` -- the type alone says little for status events."""
    try:
        status = json.loads(row.value)["payload"].get("status")
    except (ValueError, KeyError, AttributeError):
        status = None
    return f"{row.event_type} {status}" if status else row.event_type


class Command(BaseCommand):
    help = "Re-queue the latest outbox event of orders whose last change is older than --older-than."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--older-than", type=float, default=300, metavar="SECONDS",
                            help="Only orders unchanged for at least this long (default 300).")
        parser.add_argument("--within", type=float, default=86400, metavar="SECONDS",
                            help="Ignore orders last changed longer ago than this (default 86400).")
        parser.add_argument("--dry-run", action="store_true", help="List what would be re-queued; change nothing.")

    def handle(self, *args, **options) -> None:
        older_than, within, dry_run = options["older_than"], options["within"], options["dry_run"]
        if older_than < 0:
            raise CommandError("--older-than must not be negative")
        if within <= older_than:
            raise CommandError("--within must be longer than --older-than")
        service = this_service()
        now = timezone.now()
        since, before = now - timedelta(seconds=within), now - timedelta(seconds=older_than)
        order_ids = service.stuck_orders(since, before)
        self.stdout.write(
            f"{service.name}: {len(order_ids)} order{'s' if len(order_ids) != 1 else ''} last changed between "
            f"{since.isoformat(timespec='seconds')} and {before.isoformat(timespec='seconds')}"
        )
        if dry_run:
            rows = [row for row in outbox_latest(service.outbox, order_ids) if row.sent_at is not None]
        else:
            rows = outbox_republish_latest(service.outbox, order_ids)
        verb = "would re-queue" if dry_run else "re-queued"
        kinds = Counter(describe(row) for row in rows)
        summary = ", ".join(f"{kind} x{count}" for kind, count in sorted(kinds.items()))
        orders = len({row.order_id for row in rows})
        self.stdout.write(f"{verb} the latest event of {orders} order{'s' if orders != 1 else ''}"
                          f"{': ' + summary if summary else ''}")
        for row in rows:
            self.stdout.write(f"  order {row.order_id}  {describe(row)}  event {row.event_id}")
        untouched = len(order_ids) - orders
        if untouched:
            self.stdout.write(
                f"{untouched} other order{'s' if untouched != 1 else ''}: latest event still waiting in the outbox, "
                "or no event of its own; nothing to do"
            )
        if dry_run:
            self.stdout.write("dry run: nothing changed")
        elif rows:
            self.stdout.write("the outbox relay in runconsumers publishes them again with the same event_id")

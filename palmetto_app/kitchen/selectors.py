"""Reads of the kitchen."""

from __future__ import annotations

import uuid
from datetime import datetime

from django.utils import timezone

from .models import Ticket


def tickets_stuck(since: datetime, before: datetime) -> list[uuid.UUID]:
    """Order ids of tickets last changed in [since, before], whatever their stage, least recently changed first.

    Every stage counts: the kitchen cannot see whether the client (or the
    courier) received its last event -- a lost READY_FOR_DELIVERY leaves the
    order without a courier, a lost CANCELLED or REJECTED leaves the customer
    waiting -- and re-publishing one that did arrive changes nothing.
    """
    stuck = Ticket.objects.filter(updated_at__gte=since, updated_at__lte=before)
    return list(stuck.order_by("updated_at", "id").values_list("order_id", flat=True))


def tickets_next_due() -> float | None:
    """Seconds until the next ticket's timer falls due (0 when one is due already); None when no timer is set."""
    # Plain SQL: the timer loop asks after every tick, and the ORM would compile the query anew each time.
    first = next(iter(Ticket.objects.raw(
        f"SELECT id, next_stage_at FROM {Ticket._meta.db_table} WHERE next_stage_at IS NOT NULL"
        " ORDER BY next_stage_at LIMIT 1")), None)
    due = None if first is None else first.next_stage_at
    return None if due is None else (due - timezone.now()).total_seconds()


def tickets_due(moment: datetime) -> int:
    """Tickets whose next stage was due at or before ``moment`` (the kitchen's timers not yet fired)."""
    return Ticket.objects.filter(next_stage_at__lte=moment).count()

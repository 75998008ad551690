"""Reads of the courier service."""

from __future__ import annotations

import uuid
from datetime import datetime

from django.utils import timezone

from .models import Delivery


def deliveries_stuck(since: datetime, before: datetime) -> list[uuid.UUID]:
    """Order ids of deliveries last changed in [since, before], whatever their stage, least recently changed first.

    The courier service cannot see whether the client received its last OUT_FOR_DELIVERY or
    DELIVERED; re-publishing one that did arrive changes nothing.
    """
    stuck = Delivery.objects.filter(updated_at__gte=since, updated_at__lte=before)
    return list(stuck.order_by("updated_at", "id").values_list("order_id", flat=True))


def deliveries_next_due() -> float | None:
    """Seconds until the next delivery's travel time is up (0 when one is due already); None when none travels."""
    # Plain SQL: the timer loop asks after every tick, and the ORM would compile the query anew each time.
    first = next(iter(Delivery.objects.raw(
        f"SELECT id, due_at FROM {Delivery._meta.db_table} WHERE stage = '{Delivery.Stage.OUT_FOR_DELIVERY.value}'"
        " AND due_at IS NOT NULL ORDER BY due_at LIMIT 1")), None)
    due = None if first is None else first.due_at
    return None if due is None else (due - timezone.now()).total_seconds()


def deliveries_due(moment: datetime) -> int:
    """Deliveries whose courier was due to arrive at or before ``moment`` (the courier's timers not yet fired)."""
    return Delivery.objects.filter(due_at__lte=moment).count()

"""Reads of the courier service."""

from __future__ import annotations

import uuid
from datetime import datetime

from django.db.models import Min
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
    due = Delivery.objects.filter(stage=Delivery.Stage.OUT_FOR_DELIVERY).aggregate(due=Min("due_at"))["due"]
    return None if due is None else (due - timezone.now()).total_seconds()


def deliveries_due(moment: datetime) -> int:
    """Deliveries whose courier was due to arrive at or before ``moment`` (the courier's timers not yet fired)."""
    return Delivery.objects.filter(due_at__lte=moment).count()

"""Reads of the courier service."""

from __future__ import annotations

import uuid
from datetime import datetime

from .models import Delivery


def deliveries_stuck(since: datetime, before: datetime) -> list[uuid.UUID]:
    """Order ids of deliveries last changed in [since, before], whatever their stage, least recently changed first.

    The courier service cannot see whether the client received its last OUT_FOR_DELIVERY or
    DELIVERED; re-publishing one that did arrive changes nothing.
    """
    stuck = Delivery.objects.filter(updated_at__gte=since, updated_at__lte=before)
    return list(stuck.order_by("updated_at", "id").values_list("order_id", flat=True))


def deliveries_due(moment: datetime) -> int:
    """Deliveries whose courier was due to arrive at or before ``moment`` (the courier's timers not yet fired)."""
    return Delivery.objects.filter(due_at__lte=moment).count()

"""Reads of the courier service."""

from __future__ import annotations

import uuid
from datetime import datetime

from django.db.models import F
from django.db.models.functions import Coalesce, Greatest

from .models import Delivery


def deliveries_stuck(since: datetime, before: datetime) -> list[uuid.UUID]:
    """Order ids of deliveries last changed in [since, before], whatever their stage, least recently changed first.

    The courier service cannot see whether the client received its last
    OUT_FOR_DELIVERY or DELIVERED. A delivery's last change is the latest of
    ``updated_at``, ``picked_up_at`` and ``delivered_at``: the stage moves are
    saved with ``update_fields`` that do not name ``updated_at``, and the
    timestamps they do set say when they happened.
    """
    last_change = Greatest(
        "updated_at", Coalesce("picked_up_at", "updated_at"), Coalesce("delivered_at", "updated_at")
    )
    stuck = Delivery.objects.alias(last_change=last_change).filter(last_change__gte=since, last_change__lte=before)
    return list(stuck.order_by(F("last_change").asc(), "id").values_list("order_id", flat=True))

"""Writes of the courier service: take ready orders, dispatch couriers, complete deliveries."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from common.correlation import bound
from common.events import Envelope, OrderStatusChanged
from common.lifecycle import Status
from common.outbox import outbox_add_status

from .models import Courier, Delivery, OutboxMessage

log = logging.getLogger("palmetto.courier")


def _announce(delivery: Delivery, status: Status, courier: str | None = None) -> None:
    delivery.sequence += 1
    outbox_add_status(
        OutboxMessage, source="courier", order_id=delivery.order_id, correlation_id=delivery.correlation_id,
        status=status, sequence=delivery.sequence, courier=courier,
    )


def is_ready_for_delivery(envelope: Envelope) -> bool:
    """The only event the courier service acts on; everything else on notifications is ignored."""
    payload = envelope.payload
    return isinstance(payload, OrderStatusChanged) and payload.status == Status.READY_FOR_DELIVERY


def delivery_open(envelope: Envelope) -> Delivery | None:
    """Queue a ready order for a courier; runs inside the consumer's transaction.

    Returns None when the order is already known (a re-published READY changes nothing).
    """
    change = envelope.payload
    assert isinstance(change, OrderStatusChanged)
    if Delivery.objects.filter(order_id=envelope.order_id).exists():
        log.info("order %s already has a delivery; ignored", envelope.order_id)
        return None
    delivery = Delivery.objects.create(
        order_id=envelope.order_id,
        correlation_id=envelope.correlation_id,
        sequence=change.sequence,
        ready_at=envelope.occurred_at,
    )
    log.info("order %s is waiting for a courier", delivery.order_id)
    return delivery


@transaction.atomic
def deliveries_dispatch(limit: int = 100) -> int:
    """Give waiting orders, oldest first, to free couriers; orders wait while nobody is free."""
    waiting = list(
        Delivery.objects.select_for_update(skip_locked=True)
        .filter(stage=Delivery.Stage.WAITING)
        .order_by("ready_at", "id")[:limit]
    )
    if not waiting:
        return 0
    free = list(
        Courier.objects.select_for_update(skip_locked=True).filter(active=True, busy=False).order_by("id")[: len(waiting)]
    )
    now = timezone.now()
    travel = timedelta(seconds=settings.PALMETTO_CONFIG.timings.courier_travel)
    for delivery, courier in zip(waiting, free):
        with bound(delivery.correlation_id):
            courier.busy = True
            courier.save(update_fields=["busy"])
            delivery.courier, delivery.stage = courier, Delivery.Stage.OUT_FOR_DELIVERY
            delivery.picked_up_at, delivery.due_at = now, now + travel
            _announce(delivery, Status.OUT_FOR_DELIVERY, courier=courier.name)
            delivery.save(update_fields=["courier", "stage", "picked_up_at", "due_at", "sequence"])
            log.info("order %s is out for delivery with %s", delivery.order_id, courier.name)
    return min(len(waiting), len(free))


@transaction.atomic
def deliveries_complete_due(limit: int = 100) -> int:
    """Mark deliveries whose travel time is up as DELIVERED and free their couriers."""
    now = timezone.now()
    due = list(
        Delivery.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("courier")
        .filter(stage=Delivery.Stage.OUT_FOR_DELIVERY, due_at__lte=now)
        .order_by("due_at")[:limit]
    )
    for delivery in due:
        with bound(delivery.correlation_id):
            delivery.stage, delivery.delivered_at, delivery.due_at = Delivery.Stage.DELIVERED, now, None
            _announce(delivery, Status.DELIVERED)
            delivery.save(update_fields=["stage", "delivered_at", "due_at", "sequence"])
            Courier.objects.filter(id=delivery.courier_id).update(busy=False)
            log.info("order %s delivered by %s", delivery.order_id, delivery.courier)
    return len(due)

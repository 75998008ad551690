"""Writes of the courier service: take ready orders, dispatch couriers, complete deliveries.

Status changes are announced through :data:`publisher` in the transaction that makes them.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from common.correlation import bound
from common.db import insert_each, update_each
from common.deployment import COURIER
from common.events import CashCollected
from common.lifecycle import COURIER_STEPS, Status
from common.publishing import Publisher

from .models import Courier, Delivery, OutboxMessage

log = logging.getLogger("palmetto.courier")

publisher = Publisher(COURIER, OutboxMessage)


def delivery_open(
    *, order_id: uuid.UUID, correlation_id: str, ready_sequence: int, ready_at: datetime,
    cash_due: Decimal | None = None,
) -> Delivery | None:
    """Queue an order the kitchen announced ready (change number ``ready_sequence``, at ``ready_at``)
    for a courier; runs inside the consumer's transaction. ``cash_due``: what the courier collects
    on delivery (a cash order), announced with ``CashCollected`` when it is delivered.

    Returns None when the order is already known (a re-published READY changes nothing).
    """
    delivery = Delivery(
        order_id=order_id,
        correlation_id=correlation_id,
        sequence=ready_sequence,
        ready_at=ready_at,
        cash_due=cash_due,
    )
    # One statement: the insert itself finds an order that has a delivery already.
    inserted = insert_each(Delivery, [delivery], skip_conflicts_on="order_id", returning="id")
    if not inserted:
        log.info("order %s already has a delivery; ignored", order_id)
        return None
    delivery.id = inserted[0]
    log.info("order %s is waiting for a courier", delivery.order_id)
    return delivery


@transaction.atomic
def deliveries_advance_due(limit: int = 100) -> int:
    """The courier service's timer tick: complete the deliveries that are due (freeing their couriers),
    then dispatch waiting orders to free couriers, and again while that moves something (a courier
    back at once, when travel takes no time, takes the next order in this same tick), up to ``limit``
    moves. Returns how many deliveries moved."""
    moved = 0
    while moved < limit:
        step = _complete_due(limit - moved)
        step += _dispatch(limit - moved - step)
        if not step:
            break
        moved += step
    return moved


@transaction.atomic
def deliveries_dispatch(limit: int = 100) -> int:
    """Give waiting orders, oldest first, to free couriers; orders wait while nobody is free."""
    return _dispatch(limit)


def _dispatch(limit: int) -> int:
    """:func:`deliveries_dispatch` inside the caller's transaction. One query each for the orders,
    the couriers, their new states and the events, however many are dispatched."""
    if limit <= 0:
        return 0
    waiting = list(
        Delivery.objects.select_for_update(skip_locked=True)
        .filter(stage=Delivery.Stage.WAITING)
        .order_by("ready_at", "id")[:limit]
    )
    if not waiting:
        return 0
    free = list(
        Courier.objects.select_for_update(skip_locked=True)
        .filter(active=True, busy=False)
        .order_by("id")[: len(waiting)]
    )
    if not free:
        return 0
    now = timezone.now()
    travel = timedelta(seconds=COURIER_STEPS[Status.OUT_FOR_DELIVERY].seconds(settings.PALMETTO_CONFIG.timings))
    dispatched = list(zip(waiting, free, strict=False))
    with publisher.batched():
        for delivery, courier in dispatched:
            with bound(delivery.correlation_id):
                delivery.courier, delivery.stage = courier, Delivery.Stage.OUT_FOR_DELIVERY
                delivery.picked_up_at, delivery.due_at, delivery.updated_at = now, now + travel, now
                publisher.announce_next(delivery, Status.OUT_FOR_DELIVERY, courier=courier.name)
                log.info("order %s is out for delivery with %s", delivery.order_id, courier.name)
    Courier.objects.filter(id__in=[courier.id for _, courier in dispatched]).update(busy=True)
    update_each(
        Delivery, [delivery for delivery, _ in dispatched],
        ["courier", "stage", "picked_up_at", "due_at", "sequence", "updated_at"],
    )
    return len(dispatched)


@transaction.atomic
def deliveries_complete_due(limit: int = 100) -> int:
    """Mark deliveries whose travel time is up as DELIVERED (:data:`~common.lifecycle.COURIER_STEPS`)
    and free their couriers; a cash order's ``CashCollected`` follows its DELIVERED in the same
    transaction, so it is announced exactly when the delivery is."""
    return _complete_due(limit)


def _complete_due(limit: int) -> int:
    """:func:`deliveries_complete_due` inside the caller's transaction. One query each for the
    deliveries, the events, their new states and the couriers."""
    if limit <= 0:
        return 0
    now = timezone.now()
    due = list(
        Delivery.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("courier")
        .filter(stage=Delivery.Stage.OUT_FOR_DELIVERY, due_at__lte=now)
        .order_by("due_at")[:limit]
    )
    if not due:
        return 0
    with publisher.batched():
        for delivery in due:
            with bound(delivery.correlation_id):
                delivery.stage, delivery.delivered_at, delivery.due_at = Delivery.Stage.DELIVERED, now, None
                delivery.updated_at = now
                publisher.announce_next(delivery, Status.DELIVERED)
                if delivery.cash_due is not None:
                    publisher.publish(
                        CashCollected(amount=delivery.cash_due, courier=delivery.courier.name),
                        order_id=delivery.order_id, correlation_id=delivery.correlation_id,
                    )
                log.info("order %s delivered by %s", delivery.order_id, delivery.courier)
    update_each(Delivery, due, ["stage", "delivered_at", "due_at", "sequence", "updated_at"])
    Courier.objects.filter(id__in=[delivery.courier_id for delivery in due]).update(busy=False)
    return len(due)

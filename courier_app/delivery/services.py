"""Writes of the courier service: take ready orders, dispatch couriers, complete deliveries.

Status changes are announced through :data:`publisher` in the transaction that makes them.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from common.correlation import bound
from common.db import insert_each
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
    then dispatch waiting orders to free couriers, and again while that can move something (a courier
    back at once, when travel takes no time, takes the next order in this same tick), up to ``limit``
    moves. Returns how many deliveries moved. The tick's events are inserted together at its end."""
    instant = _travel() == timedelta(0)
    moved = 0
    with publisher.batched():
        while moved < limit:
            moved += _complete_due(limit - moved)
            dispatched = _dispatch(limit - moved)
            moved += dispatched
            # Another round moves something only if those just sent out are back already; otherwise
            # this round's dispatch had every courier that was free, or every order that was waiting.
            if not (dispatched and instant):
                break
    return moved


@transaction.atomic
def deliveries_dispatch(limit: int = 100) -> int:
    """Give waiting orders, oldest first, to free couriers; orders wait while nobody is free."""
    return _dispatch(limit)


def _travel() -> timedelta:
    return timedelta(seconds=COURIER_STEPS[Status.OUT_FOR_DELIVERY].seconds(settings.PALMETTO_CONFIG.timings))


def _dispatch(limit: int) -> int:
    """:func:`deliveries_dispatch` inside the caller's transaction: ONE statement pairs the oldest
    waiting orders with free couriers (both locked, skipping rows another host holds; orders first,
    the lock order of this module) and moves both, then the events are queued.

    Written in SQL because this is the tick's hot path and the ORM needs five round trips for it
    (py-spy: the tick was two thirds of the courier's CPU). Table and column names come from the models;
    the stage the rounds look for is a literal, which the in-flight indexes need (``Delivery.Meta``).
    """
    if limit <= 0:
        return 0
    now = timezone.now()
    deliveries, couriers = Delivery._meta.db_table, Courier._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH waiting AS MATERIALIZED (
                SELECT id, row_number() OVER (ORDER BY ready_at, id) AS n FROM (
                    SELECT id, ready_at FROM {deliveries} WHERE stage = '{Delivery.Stage.WAITING.value}'
                    ORDER BY ready_at, id LIMIT %(limit)s FOR UPDATE SKIP LOCKED
                ) AS w
            ), free AS MATERIALIZED (
                SELECT id, name, row_number() OVER (ORDER BY id) AS n FROM (
                    SELECT id, name FROM {couriers} WHERE active AND NOT busy
                    ORDER BY id LIMIT (SELECT count(*) FROM waiting) FOR UPDATE SKIP LOCKED
                ) AS c
            ), pairs AS MATERIALIZED (
                SELECT waiting.id AS delivery_id, free.id AS courier_id, free.name, waiting.n
                FROM waiting JOIN free USING (n)
            ), taken AS (
                UPDATE {couriers} AS c SET busy = true FROM pairs WHERE c.id = pairs.courier_id
            ), sent AS (
                UPDATE {deliveries} AS d SET courier_id = pairs.courier_id, stage = %(out)s, picked_up_at = %(now)s,
                    due_at = %(due)s, sequence = d.sequence + 1, updated_at = %(now)s
                FROM pairs WHERE d.id = pairs.delivery_id
                RETURNING d.id, d.order_id, d.correlation_id, d.sequence
            )
            SELECT sent.order_id, sent.correlation_id, sent.sequence, pairs.name
            FROM sent JOIN pairs ON pairs.delivery_id = sent.id ORDER BY pairs.n
            """,
            {"out": Delivery.Stage.OUT_FOR_DELIVERY.value, "limit": limit,
             "now": now, "due": now + _travel()},
        )
        sent = cursor.fetchall()
    with publisher.batched():
        for order_id, correlation_id, sequence, courier in sent:
            with bound(correlation_id):
                publisher.announce(Status.OUT_FOR_DELIVERY, order_id=order_id, correlation_id=correlation_id,
                                   sequence=sequence, courier=courier)
                log.info("order %s is out for delivery with %s", order_id, courier)
    return len(sent)


@transaction.atomic
def deliveries_complete_due(limit: int = 100) -> int:
    """Mark deliveries whose travel time is up as DELIVERED (:data:`~common.lifecycle.COURIER_STEPS`)
    and free their couriers; a cash order's ``CashCollected`` follows its DELIVERED in the same
    transaction, so it is announced exactly when the delivery is."""
    return _complete_due(limit)


def _complete_due(limit: int) -> int:
    """:func:`deliveries_complete_due` inside the caller's transaction: ONE statement takes the due
    deliveries (locked, skipping rows another host holds), marks them delivered and frees their
    couriers, then the events are queued (SQL for the reason :func:`_dispatch` gives)."""
    if limit <= 0:
        return 0
    now = timezone.now()
    deliveries, couriers = Delivery._meta.db_table, Courier._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH due AS MATERIALIZED (
                SELECT id, due_at FROM {deliveries} WHERE stage = '{Delivery.Stage.OUT_FOR_DELIVERY.value}'
                  AND due_at <= %(now)s
                ORDER BY due_at, id LIMIT %(limit)s FOR UPDATE SKIP LOCKED
            ), done AS (
                UPDATE {deliveries} AS d SET stage = %(delivered)s, delivered_at = %(now)s, due_at = NULL,
                    sequence = d.sequence + 1, updated_at = %(now)s
                FROM due WHERE d.id = due.id
                RETURNING d.id, d.order_id, d.correlation_id, d.sequence, d.courier_id, d.cash_due
            ), freed AS (
                UPDATE {couriers} AS c SET busy = false FROM done WHERE c.id = done.courier_id RETURNING c.id, c.name
            )
            SELECT done.order_id, done.correlation_id, done.sequence, freed.name, done.cash_due
            FROM done JOIN due ON due.id = done.id LEFT JOIN freed ON freed.id = done.courier_id
            ORDER BY due.due_at, due.id
            """,
            {"delivered": Delivery.Stage.DELIVERED.value, "now": now, "limit": limit},
        )
        done = cursor.fetchall()
    with publisher.batched():
        for order_id, correlation_id, sequence, courier, cash_due in done:
            with bound(correlation_id):
                publisher.announce(Status.DELIVERED, order_id=order_id, correlation_id=correlation_id,
                                   sequence=sequence)
                if cash_due is not None:
                    publisher.publish(CashCollected(amount=cash_due, courier=courier or ""),
                                      order_id=order_id, correlation_id=correlation_id)
                log.info("order %s delivered by %s", order_id, courier)
    return len(done)

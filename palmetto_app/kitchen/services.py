"""Writes of the kitchen: open a ticket for a new order, decide cancellations, advance due tickets.

Every function runs in a transaction (the consumer's batch, or its own) and announces what it
did through :data:`publisher`, so the change and its event commit together.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from common.correlation import bound
from common.db import insert_each, placeholders, select_models, update_each
from common.deployment import PALMETTO
from common.events import CancellationDeclined, OrderPlaced
from common.lifecycle import CANCELLABLE, KITCHEN_STEPS, PaymentMethod, Status
from common.publishing import Publisher

from .models import OutboxMessage, Ticket, UnavailableItem

log = logging.getLogger("palmetto.kitchen")

publisher = Publisher(PALMETTO, OutboxMessage)

# One ticket is one oven run; bigger orders are catering and need a phone call.
MAX_ITEMS_PER_TICKET = 40


def _move(ticket: Ticket, status: Status, reason: str | None = None) -> None:
    """Move the ticket to ``status`` (the caller saves it) and queue the event saying so."""
    ticket.stage = status
    ticket.sequence += 1
    _announce(ticket, status, reason)


def _announce(ticket: Ticket, status: Status, reason: str | None = None) -> None:
    """Queue the event saying the ticket is now ``status``, change number ``ticket.sequence``; a cash
    order's READY_FOR_DELIVERY carries the amount the courier collects."""
    cash_due = None
    if status == Status.READY_FOR_DELIVERY and ticket.payment_method == PaymentMethod.CASH:
        cash_due = ticket.amount
    publisher.announce(status, order_id=ticket.order_id, correlation_id=ticket.correlation_id,
                       sequence=ticket.sequence, reason=reason, cash_due=cash_due)


def _accept(ticket: Ticket) -> None:
    _move(ticket, Status.ACCEPTED)
    ticket.next_stage_at = _due_after(Status.ACCEPTED, timezone.now())


def _due_after(status: Status, now: datetime) -> datetime | None:
    """When a ticket now in ``status`` takes its next timed step; None when it has none."""
    step = KITCHEN_STEPS.get(status)
    return None if step is None else now + timedelta(seconds=step.seconds(settings.PALMETTO_CONFIG.timings))


def _rejection_reason(order: OrderPlaced) -> str | None:
    ids = [line.item_id for line in order.items]
    # Plain SQL: this runs for every order, and the ORM would compile the query anew each time.
    where = f"WHERE item_id IN ({placeholders(len(ids))}) ORDER BY item_id LIMIT 1"
    missing = next(iter(select_models(UnavailableItem, where, ids)), None)
    if missing is not None:
        return f"{missing.item_id} is unavailable ({missing.reason})"
    count = sum(line.quantity for line in order.items)
    if count > MAX_ITEMS_PER_TICKET:
        return f"{count} items exceed the kitchen's {MAX_ITEMS_PER_TICKET} per order; please call us for catering"
    return None


def ticket_open(*, order_id: uuid.UUID, correlation_id: str, order: OrderPlaced) -> Ticket | None:
    """Accept or reject a new order; runs inside the consumer's transaction.

    A card order the kitchen could make waits (stage PLACED, nothing announced) for
    :func:`ticket_payment_decided`; the kitchen never starts an order that is not paid or cash.
    One it cannot make is rejected at once (the Client App then never charges it, or refunds it).

    Returns None when the order already has a ticket (the same order re-published under a new
    event id, or a cancellation that overtook it, changes nothing).
    """
    address = order.delivery_address
    ticket = Ticket(
        order_id=order_id,
        correlation_id=correlation_id,
        customer_name=order.customer.name,
        delivery_address=f"{address.street}, {address.postal_code} {address.city}",
        items=[{"item_id": line.item_id, "name": line.name, "quantity": line.quantity} for line in order.items],
        item_count=sum(line.quantity for line in order.items),
        payment_method=order.payment.method,
        amount=order.payment.amount,
    )
    reason = _rejection_reason(order)
    if reason:
        status = Status.REJECTED
    elif ticket.payment_method == PaymentMethod.CARD:
        status = Status.PLACED  # nothing to announce yet
    else:
        status = Status.ACCEPTED
        ticket.next_stage_at = _due_after(Status.ACCEPTED, timezone.now())
    ticket.stage, ticket.reason = status, reason or ""
    if status != Status.PLACED:
        ticket.sequence += 1  # the change announced below, once the ticket is in
    # One statement: the insert itself finds an order that has a ticket already.
    inserted = insert_each(Ticket, [ticket], skip_conflicts_on="order_id", returning="id")
    if not inserted:
        log.info("order %s already has a ticket; ignored", order_id)
        return None
    ticket.id = inserted[0]
    if status != Status.PLACED:
        _announce(ticket, status, reason)
    if reason:
        log.info("order %s rejected: %s", order_id, reason)
    elif status == Status.PLACED:
        log.info("order %s waits for its card payment", order_id)
    else:
        log.info("order %s accepted: %d items", order_id, ticket.item_count)
    return ticket


def ticket_payment_decided(*, order_id: uuid.UUID, charged: bool, reason: str | None = None) -> bool:
    """The Client App charged (``charged``) or declined a card order; runs in the consumer's transaction.

    A ticket waiting for its payment is accepted, or rejected with a reason saying the payment was
    declined. Any other ticket (cancelled or rejected meanwhile, or already decided) is left alone:
    the Client App refunds a charged order that ends CANCELLED or REJECTED. Returns whether it moved.
    """
    ticket = Ticket.objects.select_for_update().filter(order_id=order_id).first()
    if ticket is None:
        # Not in normal operation: the decision follows its OrderPlaced in one partition, and the Client App
        # decides only after reading that OrderPlaced, which a consumer sees only once the in-sync replicas
        # have it (so acks=1 cannot have lost it). Nothing to start; an operator finds it in the log.
        log.warning("order %s: payment decided but the kitchen has no ticket; ignored", order_id)
        return False
    if ticket.stage != Status.PLACED:
        log.info("order %s: payment decided while %s; ignored", order_id, ticket.stage)
        return False
    if charged:
        _accept(ticket)
        log.info("order %s paid and accepted: %d items", order_id, ticket.item_count)
    else:
        ticket.reason = f"payment declined: {reason}"[:300]
        _move(ticket, Status.REJECTED, ticket.reason)
        log.info("order %s rejected: %s", order_id, ticket.reason)
    ticket.save(update_fields=["stage", "next_stage_at", "reason", "sequence", "updated_at"])
    return True


def ticket_cancel(*, order_id: uuid.UUID, correlation_id: str, reason: str | None) -> None:
    """Decide a cancellation request; runs inside the consumer's transaction.

    While the order is cancellable (:data:`~common.lifecycle.CANCELLABLE`) the ticket ends
    CANCELLED and never reaches the courier; afterwards the kitchen announces
    ``CancellationDeclined``. A request that overtook its order (the order's event was lost and
    will be re-published) leaves a CANCELLED ticket, so the late order is ignored.
    """
    ticket = Ticket.objects.select_for_update().filter(order_id=order_id).first()
    if ticket is None:
        ticket = Ticket(
            order_id=order_id,
            correlation_id=correlation_id,
            customer_name="",
            delivery_address="",
            items=[],
            item_count=0,
            reason="cancelled before the kitchen received the order",
        )
        _move(ticket, Status.CANCELLED, ticket.reason)
        ticket.save()
        log.info("order %s cancelled before it reached the kitchen", order_id)
        return
    if ticket.stage == Status.CANCELLED:
        return
    if ticket.stage in CANCELLABLE:
        ticket.next_stage_at = None
        ticket.reason = reason or "cancelled by the customer"
        _move(ticket, Status.CANCELLED, ticket.reason)
        ticket.save(update_fields=["stage", "next_stage_at", "reason", "sequence", "updated_at"])
        log.info("order %s cancelled", order_id)
        return
    refusal = f"too late to cancel: the order is {ticket.stage}"
    publisher.publish(CancellationDeclined(reason=refusal), order_id=order_id, correlation_id=ticket.correlation_id)
    log.info("order %s: cancellation refused (%s)", order_id, ticket.stage)


@transaction.atomic
def tickets_advance_due(limit: int = 100) -> int:
    """Move every ticket whose timer is due along :data:`~common.lifecycle.KITCHEN_STEPS`
    (ACCEPTED -> PREPARING -> READY_FOR_DELIVERY) and announce each step; return how many tickets moved.

    A ticket takes every step that is due by now, in order, each announced: one whose next stage
    takes no time goes on at once instead of waiting for another tick. The events go
    out in one INSERT and the tickets in one UPDATE. ``skip_locked`` lets several worker hosts
    share the work without blocking each other.
    """
    now = timezone.now()
    # Plain SQL: the kitchen's timer loop runs this after every batch under load.
    skip_locked = " FOR UPDATE SKIP LOCKED" if connection.features.has_select_for_update_skip_locked else ""
    due = select_models(Ticket, f"WHERE next_stage_at <= %s ORDER BY next_stage_at LIMIT %s{skip_locked}", [now, limit])
    with publisher.batched():
        for ticket in due:
            with bound(ticket.correlation_id):
                while ticket.next_stage_at is not None and ticket.next_stage_at <= now:
                    step = KITCHEN_STEPS[Status(ticket.stage)]
                    _move(ticket, step.next)
                    ticket.next_stage_at = _due_after(step.next, now)
                    log.info("order %s is %s", ticket.order_id, step.next)
            ticket.updated_at = now
    update_each(Ticket, due, ["stage", "next_stage_at", "sequence", "updated_at"])
    return len(due)

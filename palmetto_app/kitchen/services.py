"""Writes of the kitchen: open a ticket for a new order, advance tickets whose stage is due."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from common.correlation import bound
from common.events import CancellationDeclined, CancellationRequested, Envelope, OrderPlaced
from common.lifecycle import Status
from common.outbox import outbox_add, outbox_add_status

from .models import OutboxMessage, Ticket, UnavailableItem

log = logging.getLogger("palmetto.kitchen")

# One ticket is one oven run; bigger orders are catering and need a phone call.
MAX_ITEMS_PER_TICKET = 40


def _announce(ticket: Ticket, status: Status, reason: str | None = None) -> None:
    ticket.sequence += 1
    outbox_add_status(
        OutboxMessage, source="palmetto", order_id=ticket.order_id, correlation_id=ticket.correlation_id,
        status=status, sequence=ticket.sequence, reason=reason,
    )


def _rejection_reason(order: OrderPlaced) -> str | None:
    missing = UnavailableItem.objects.filter(item_id__in=[line.item_id for line in order.items]).order_by("item_id").first()
    if missing is not None:
        return f"{missing.item_id} is unavailable ({missing.reason})"
    count = sum(line.quantity for line in order.items)
    if count > MAX_ITEMS_PER_TICKET:
        return f"{count} items exceed the kitchen's {MAX_ITEMS_PER_TICKET} per order; please call us for catering"
    return None


def ticket_open(envelope: Envelope) -> Ticket | None:
    """Accept or reject a new order; runs inside the consumer's transaction.

    Returns None when the order already has a ticket (the same order
    re-published under a new event id changes nothing).
    """
    order = envelope.payload
    assert isinstance(order, OrderPlaced)
    if Ticket.objects.filter(order_id=envelope.order_id).exists():
        log.info("order %s already has a ticket; ignored", envelope.order_id)
        return None
    reason = _rejection_reason(order)
    address = order.delivery_address
    ticket = Ticket(
        order_id=envelope.order_id,
        correlation_id=envelope.correlation_id,
        customer_name=order.customer.name,
        delivery_address=f"{address.street}, {address.postal_code} {address.city}",
        items=[{"item_id": l.item_id, "name": l.name, "quantity": l.quantity} for l in order.items],
        item_count=sum(l.quantity for l in order.items),
    )
    if reason:
        ticket.stage, ticket.reason = Ticket.Stage.REJECTED, reason
        _announce(ticket, Status.REJECTED, reason)
        log.info("order %s rejected: %s", ticket.order_id, reason)
    else:
        ticket.stage = Ticket.Stage.ACCEPTED
        ticket.next_stage_at = timezone.now() + timedelta(seconds=settings.PALMETTO_CONFIG.timings.kitchen_accept_to_prepare)
        _announce(ticket, Status.ACCEPTED)
        log.info("order %s accepted: %d items", ticket.order_id, ticket.item_count)
    ticket.save()
    return ticket


# The kitchen can still stop these; from READY_FOR_DELIVERY on the food is made.
_CANCELLABLE = frozenset({Ticket.Stage.ACCEPTED, Ticket.Stage.PREPARING})


def ticket_cancel(envelope: Envelope) -> None:
    """Decide a cancellation request; runs inside the consumer's transaction.

    Before the food is ready the ticket ends CANCELLED (and never reaches the
    courier); afterwards the kitchen announces ``CancellationDeclined``. A
    request that overtook its order (the order's event was lost and will be
    re-published) leaves a CANCELLED ticket, so the late order is ignored.
    """
    request = envelope.payload
    assert isinstance(request, CancellationRequested)
    ticket = Ticket.objects.select_for_update().filter(order_id=envelope.order_id).first()
    if ticket is None:
        ticket = Ticket(
            order_id=envelope.order_id, correlation_id=envelope.correlation_id, customer_name="", delivery_address="",
            items=[], item_count=0, stage=Ticket.Stage.CANCELLED, reason="cancelled before the kitchen received the order",
        )
        _announce(ticket, Status.CANCELLED, ticket.reason)
        ticket.save()
        log.info("order %s cancelled before it reached the kitchen", ticket.order_id)
        return
    if ticket.stage == Ticket.Stage.CANCELLED:
        return
    if ticket.stage in _CANCELLABLE:
        ticket.stage, ticket.next_stage_at = Ticket.Stage.CANCELLED, None
        ticket.reason = request.reason or "cancelled by the customer"
        _announce(ticket, Status.CANCELLED, ticket.reason)
        ticket.save(update_fields=["stage", "next_stage_at", "reason", "sequence", "updated_at"])
        log.info("order %s cancelled", ticket.order_id)
        return
    reason = f"too late to cancel: the order is {ticket.stage}"
    outbox_add(
        OutboxMessage,
        Envelope.new(
            CancellationDeclined(reason=reason), order_id=ticket.order_id, correlation_id=ticket.correlation_id,
            source="palmetto",
        ),
    )
    log.info("order %s: cancellation refused (%s)", ticket.order_id, ticket.stage)


# Stage -> (next stage, seconds until the one after, or None when the ticket leaves the kitchen).
def _next(stage: str) -> tuple[str, float | None]:
    timings = settings.PALMETTO_CONFIG.timings
    if stage == Ticket.Stage.ACCEPTED:
        return Ticket.Stage.PREPARING, timings.kitchen_prepare
    if stage == Ticket.Stage.PREPARING:
        return Ticket.Stage.READY_FOR_DELIVERY, None
    raise ValueError(f"a {stage} ticket has no next stage")


@transaction.atomic
def tickets_advance_due(limit: int = 100) -> int:
    """Move every ticket whose timer is due to its next stage and announce it; return how many moved.

    ``skip_locked`` lets several worker hosts share the work without blocking each other.
    """
    now = timezone.now()
    due = list(
        Ticket.objects.select_for_update(skip_locked=True)
        .filter(next_stage_at__lte=now)
        .order_by("next_stage_at")[:limit]
    )
    for ticket in due:
        with bound(ticket.correlation_id):
            stage, after = _next(ticket.stage)
            ticket.stage = stage
            ticket.next_stage_at = None if after is None else now + timedelta(seconds=after)
            _announce(ticket, Status(stage))
            ticket.save(update_fields=["stage", "next_stage_at", "sequence", "updated_at"])
            log.info("order %s is %s", ticket.order_id, stage)
    return len(due)

"""A customer asks to cancel; the kitchen decides (see ``palmetto_app.kitchen.services.ticket_cancel``)."""

from __future__ import annotations

import logging
import uuid

from django.db import transaction

from common.errors import DomainError
from common.events import CancellationRequested
from common.lifecycle import CANCELLABLE, Status

from ..models import Order, OrderStatusChange
from . import publisher

log = logging.getLogger("palmetto.client.orders")


class TooLateToCancel(DomainError):
    """The order is past the point of no return (ready, on its way, or finished)."""

    status, code = 409, "too_late_to_cancel"


@transaction.atomic
def order_request_cancel(*, order_id: uuid.UUID, reason: str = "") -> Order:
    """Ask the kitchen to cancel: queue ``CancellationRequested`` and note the request in the history.

    Raises :class:`TooLateToCancel` when the order is no longer cancellable as far as this
    service knows. Asking again while a request is pending changes nothing.
    """
    order = Order.objects.select_for_update().get(id=order_id)
    if order.cancellation in (Order.Cancellation.REQUESTED, Order.Cancellation.CANCELLED):
        return order
    if Status(order.status) not in CANCELLABLE:
        raise TooLateToCancel(f"The order is already {order.status}; it can no longer be cancelled")
    order.cancellation, order.cancellation_reason = Order.Cancellation.REQUESTED, reason
    order.save(update_fields=["cancellation", "cancellation_reason", "updated_at"])
    envelope = publisher.publish(
        CancellationRequested(reason=reason or None), order_id=order.id, correlation_id=order.correlation_id
    )
    OrderStatusChange.objects.create(
        order=order, kind=OrderStatusChange.Kind.CANCELLATION_REQUESTED, status=order.status,
        sequence=order.status_sequence, occurred_at=envelope.occurred_at, source=envelope.source,
        event_id=envelope.event_id, reason=reason,
    )
    log.info("order %s: cancellation requested", order.id)
    return order

"""What the kitchen and the courier announce, applied to the customer's view of the order.

Both functions run inside the consumer's batch transaction (called from the service's
declaration); an event about an order this service never had can never succeed.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime

from client_app.payments.services import payment_settle_failed_order
from common.errors import InvalidEvent
from common.events import OrderStatusChanged
from common.lifecycle import Status, can_move

from ..models import Order, OrderStatusChange
from .notifying import email_queue

log = logging.getLogger("palmetto.client.orders")


def _locked_order(order_id: uuid.UUID, correlation_id: str) -> Order:
    """The order an event is about, locked; :class:`InvalidEvent` when it is not ours."""
    order = Order.objects.select_for_update().filter(id=order_id).first()
    if order is None:
        raise InvalidEvent(f"no order {order_id} in the Client App")
    if order.correlation_id != correlation_id:
        raise InvalidEvent(f"order {order.id} has correlation ID {order.correlation_id}, event says {correlation_id}")
    return order


def order_apply_status(
    *, order_id: uuid.UUID, correlation_id: str, change: OrderStatusChanged, event_id: uuid.UUID,
    occurred_at: datetime, source: str,
) -> bool:
    """Apply a status change if it moves the order forward; return whether it did.

    Duplicates and stale events (sequence not above the order's, or an illegal move) change nothing.
    An applied status the customer hears about queues their email (:mod:`.notifying`).
    """
    order = _locked_order(order_id, correlation_id)
    current = Status(order.status)
    if change.sequence <= order.status_sequence or not can_move(current, change.status):
        log.info("order %s: ignored %s #%d (order is %s #%d)", order.id, change.status, change.sequence, current,
                 order.status_sequence)
        return False
    order.status, order.status_sequence = change.status, change.sequence
    if change.status == Status.CANCELLED:
        order.cancellation = Order.Cancellation.CANCELLED
    order.save(update_fields=["status", "status_sequence", "cancellation", "updated_at"])
    OrderStatusChange.objects.create(
        order=order, status=change.status, sequence=change.sequence, occurred_at=occurred_at, source=source,
        event_id=event_id, reason=change.reason or "", courier=change.courier or "",
    )
    # Same transaction: the customer's email exists exactly when the status does.
    email_queue(order=order, status=change.status, reason=change.reason or "")
    if change.status in (Status.CANCELLED, Status.REJECTED):
        # Compensation in the same transaction: the order fails and its money comes back together.
        payment_settle_failed_order(order=order, reason=f"order {change.status}: {change.reason or 'no reason'}")
    log.info("order %s: %s -> %s (#%d)", order.id, current, change.status, change.sequence)
    return True


def order_cancellation_refused(
    *, order_id: uuid.UUID, correlation_id: str, reason: str, event_id: uuid.UUID, occurred_at: datetime, source: str,
) -> None:
    """Record the kitchen's refusal to cancel in the order's history."""
    order = _locked_order(order_id, correlation_id)
    order.cancellation = Order.Cancellation.REFUSED
    order.save(update_fields=["cancellation", "updated_at"])
    OrderStatusChange.objects.create(
        order=order, kind=OrderStatusChange.Kind.CANCELLATION_REFUSED, status=order.status,
        sequence=order.status_sequence, occurred_at=occurred_at, source=source, event_id=event_id, reason=reason,
    )
    log.info("order %s: cancellation refused: %s", order.id, reason)

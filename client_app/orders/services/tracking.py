"""What the kitchen and the courier announce, applied to the customer's view of the order.

Both functions run inside the consumer's batch transaction (called from the service's
declaration); an event about an order this service never had can never succeed.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime

from django.utils import timezone

from client_app.payments.services import payment_settle_failed_order
from common.errors import InvalidEvent
from common.events import OrderStatusChanged
from common.lifecycle import SIDE_EXITS, Status, can_move

from ..models import Order, OrderStatusChange
from .notifying import SUBJECTS, email_queue

log = logging.getLogger("palmetto.client.orders")

# For each status, the statuses an order may move to it from (common.lifecycle decides).
_MOVABLE_TO = {target: [s for s in Status if can_move(s, target)] for target in Status}


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
    The move is one conditional UPDATE (which locks the row, as a locked read would) and one INSERT
    into the history: two round trips per status change, the consumers' hottest path. A status the
    customer hears about also queues their email (:mod:`.notifying`), and a failed order is compensated
    (:mod:`client_app.payments`); only those read the order back.
    """
    fields = {"status": change.status, "status_sequence": change.sequence, "updated_at": timezone.now()}
    if change.status == Status.CANCELLED:
        fields["cancellation"] = Order.Cancellation.CANCELLED
    moved = Order.objects.filter(
        id=order_id,
        correlation_id=correlation_id,
        status__in=_MOVABLE_TO[change.status],
        status_sequence__lt=change.sequence,
    ).update(**fields)
    if not moved:
        order = _locked_order(order_id, correlation_id)  # InvalidEvent when the order is not ours
        log.info("order %s: ignored %s #%d (order is %s #%d)", order.id, change.status, change.sequence, order.status,
                 order.status_sequence)
        return False
    OrderStatusChange.objects.create(
        order_id=order_id, status=change.status, sequence=change.sequence, occurred_at=occurred_at, source=source,
        event_id=event_id, reason=change.reason or "", courier=change.courier or "",
    )
    failed = change.status in SIDE_EXITS
    if change.status in SUBJECTS or failed:
        order = Order.objects.select_related("customer").get(id=order_id)
        # Same transaction: the customer's email exists exactly when the status does.
        email_queue(order=order, status=change.status, reason=change.reason or "")
        if failed:
            # Compensation in the same transaction: the order fails and its money comes back together.
            payment_settle_failed_order(order=order, reason=f"order {change.status}: {change.reason or 'no reason'}")
    log.info("order %s: now %s (#%d)", order_id, change.status, change.sequence)
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

"""What the kitchen and the courier announce, applied to the customer's view of the order.

Both functions run inside the consumer's batch transaction (called from the service's
declaration); an event about an order this service never had can never succeed.
"""

from __future__ import annotations

import functools
import logging
import uuid
from datetime import datetime

from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone

from client_app.payments.services import payment_settle_failed_order
from common.errors import InvalidEvent
from common.events import OrderStatusChanged
from common.lifecycle import SIDE_EXITS, Status, can_move

from ..models import Order, OrderStatusChange
from .notifying import SUBJECTS, email_queue

log = logging.getLogger("palmetto.client.orders")

# For each status, the statuses an order may move to it from (common.lifecycle decides).
_MOVABLE_FROM = {target: [str(s) for s in Status if can_move(s, target)] for target in Status}


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
    This is the consumers' hottest path, so the move is ONE statement (:func:`_move_and_record`): a
    conditional UPDATE (which locks the row, as a locked read would) and the history row, returning
    whether the customer has an email address. A status the customer is emailed about queues their
    email (:mod:`.notifying`), and a failed order is compensated (:mod:`client_app.payments`); only
    those read the order back.
    """
    moved, has_email = _move_and_record(
        order_id=order_id, correlation_id=correlation_id, change=change, event_id=event_id, occurred_at=occurred_at,
        source=source,
    )
    if not moved:
        order = _locked_order(order_id, correlation_id)  # InvalidEvent when the order is not ours
        log.info("order %s: ignored %s #%d (order is %s #%d)", order.id, change.status, change.sequence, order.status,
                 order.status_sequence)
        return False
    failed = change.status in SIDE_EXITS
    if (change.status in SUBJECTS and has_email) or failed:
        order = Order.objects.select_related("customer").get(id=order_id)
        # Same transaction: the customer's email exists exactly when the status does.
        email_queue(order=order, status=change.status, reason=change.reason or "")
        if failed:
            # Compensation in the same transaction: the order fails and its money comes back together.
            payment_settle_failed_order(order=order, reason=f"order {change.status}: {change.reason or 'no reason'}")
    log.info("order %s: now %s (#%d)", order_id, change.status, change.sequence)
    return True


def _move_and_record(
    *, order_id: uuid.UUID, correlation_id: str, change: OrderStatusChanged, event_id: uuid.UUID,
    occurred_at: datetime, source: str,
) -> tuple[bool, bool]:
    """Move the order to ``change.status`` if it may (right correlation ID, a legal move, a newer
    sequence) and add the history entry, in one round trip; return (moved, the customer has an email).

    Written in SQL because the ORM cannot update, insert and return in one statement: a
    data-modifying CTE whose INSERT takes its row from the UPDATE's RETURNING, so the history entry
    exists exactly when the move happened. Table and column names come from the models.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            _move_and_record_sql(change.status == Status.CANCELLED),
            {
                "status": str(change.status), "sequence": change.sequence, "now": timezone.now(),
                "cancellation": str(Order.Cancellation.CANCELLED), "order_id": order_id,
                "correlation_id": correlation_id, "movable": _MOVABLE_FROM[change.status],
                "kind": str(OrderStatusChange.Kind.STATUS), "occurred_at": occurred_at, "source": source,
                "event_id": event_id, "reason": change.reason or "", "courier": change.courier or "",
            },
        )
        row = cursor.fetchone()
    return (False, False) if row is None else (True, bool(row[0]))


@functools.cache
def _move_and_record_sql(cancelled: bool) -> str:
    """The statement of :func:`_move_and_record`, written once (per process) for a move to CANCELLED,
    which also marks the cancellation, and once for any other."""
    orders, history = Order._meta.db_table, OrderStatusChange._meta.db_table
    users = get_user_model()._meta.db_table
    cancellation = ", cancellation = %(cancellation)s" if cancelled else ""
    return f"""
        WITH moved AS (
            UPDATE {orders} SET status = %(status)s, status_sequence = %(sequence)s, updated_at = %(now)s{cancellation}
            WHERE id = %(order_id)s AND correlation_id = %(correlation_id)s
              AND status = ANY(%(movable)s) AND status_sequence < %(sequence)s
            RETURNING id, customer_id
        ), entry AS (
            INSERT INTO {history}
                (order_id, kind, status, sequence, occurred_at, recorded_at, source, event_id, reason, courier)
            SELECT id, %(kind)s, %(status)s, %(sequence)s, %(occurred_at)s, %(now)s, %(source)s, %(event_id)s,
                   %(reason)s, %(courier)s
            FROM moved
        )
        SELECT COALESCE(u.email, '') <> '' FROM moved LEFT JOIN {users} u ON u.id = moved.customer_id
        """


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

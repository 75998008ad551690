"""The Client App as a service: it consumes notifications (what the kitchen and the courier
announce) and publishes orders and cancellation requests. Each adapter below turns one event
into one service call."""

from common.declaration import Job, Service, Subscription
from common.deployment import CLIENT
from common.events import CancellationDeclined, Envelope, OrderStatusChanged
from common.topics import NOTIFICATIONS

from . import selectors, services
from .models import InboxEvent
from .services import notifying, tracking


def _status_changed(event: Envelope[OrderStatusChanged]) -> None:
    tracking.order_apply_status(
        order_id=event.order_id, correlation_id=event.correlation_id, change=event.payload, event_id=event.event_id,
        occurred_at=event.occurred_at, source=event.source,
    )


def _cancellation_declined(event: Envelope[CancellationDeclined]) -> None:
    tracking.order_cancellation_refused(
        order_id=event.order_id, correlation_id=event.correlation_id, reason=event.payload.reason,
        event_id=event.event_id, occurred_at=event.occurred_at, source=event.source,
    )


SERVICE = Service(
    spec=CLIENT,
    subscriptions=(
        Subscription(
            NOTIFICATIONS, {OrderStatusChanged: _status_changed, CancellationDeclined: _cancellation_declined}
        ),
    ),
    publisher=services.publisher,
    inbox=InboxEvent,
    stuck_orders=selectors.orders_stuck,
    # Customer emails, queued with each status change, sent in a loop of their own.
    jobs=(Job("mailer", notifying.emails_send_due, notifying.emails_backlog),),
)

"""The Client App as a service: it consumes notifications (what the kitchen and the courier
announce) and its own orders topic (to take the payment step of each card order), and publishes
orders, cancellation requests and payment decisions. Each adapter below turns one event into one
service call."""

from client_app.payments import services as payments
from common.declaration import Job, Service, Subscription
from common.deployment import CLIENT
from common.events import CancellationDeclined, CashCollected, Envelope, OrderPlaced, OrderStatusChanged
from common.lifecycle import PaymentMethod
from common.topics import NOTIFICATIONS, ORDERS

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


def _cash_collected(event: Envelope[CashCollected]) -> None:
    payments.payment_cash_collected(
        order_id=event.order_id, correlation_id=event.correlation_id, amount=event.payload.amount,
        courier=event.payload.courier, event_id=event.event_id, occurred_at=event.occurred_at, source=event.source,
    )


def is_card_order(event: Envelope) -> bool:
    """Of its own orders topic the Client App acts only on card orders (the payment step)."""
    return isinstance(event.payload, OrderPlaced) and event.payload.payment.method == PaymentMethod.CARD


def _card_order_placed(event: Envelope[OrderPlaced]) -> None:
    payments.payment_charge(order_id=event.order_id, correlation_id=event.correlation_id)


SERVICE = Service(
    spec=CLIENT,
    subscriptions=(
        Subscription(
            NOTIFICATIONS,
            {
                OrderStatusChanged: _status_changed,
                CancellationDeclined: _cancellation_declined,
                CashCollected: _cash_collected,
            },
        ),
        Subscription(ORDERS, {OrderPlaced: _card_order_placed}, wants=is_card_order),
    ),
    publisher=services.publisher,
    inbox=InboxEvent,
    stuck_orders=selectors.orders_stuck,
    # Customer emails, queued with each status change, sent in a loop of their own.
    jobs=(Job("mailer", notifying.emails_send_due, notifying.emails_backlog),),
)

"""The Palmetto App as a service: it consumes orders, cancellation requests and card payment
decisions and publishes the kitchen's status changes. Each adapter below turns one event into one service call."""

from common.declaration import Service, Subscription
from common.deployment import PALMETTO
from common.events import CancellationRequested, Envelope, OrderPlaced, PaymentCharged, PaymentDeclined
from common.topics import ORDERS

from . import selectors, services
from .models import InboxEvent


def _order_placed(event: Envelope[OrderPlaced]) -> None:
    services.ticket_open(order_id=event.order_id, correlation_id=event.correlation_id, order=event.payload)


def _payment_charged(event: Envelope[PaymentCharged]) -> None:
    services.ticket_payment_decided(order_id=event.order_id, charged=True)


def _payment_declined(event: Envelope[PaymentDeclined]) -> None:
    services.ticket_payment_decided(order_id=event.order_id, charged=False, reason=event.payload.reason)


def _cancellation_requested(event: Envelope[CancellationRequested]) -> None:
    services.ticket_cancel(order_id=event.order_id, correlation_id=event.correlation_id, reason=event.payload.reason)


SERVICE = Service(
    spec=PALMETTO,
    subscriptions=(
        Subscription(
            ORDERS,
            {
                OrderPlaced: _order_placed,
                CancellationRequested: _cancellation_requested,
                PaymentCharged: _payment_charged,
                PaymentDeclined: _payment_declined,
            },
        ),
    ),
    publisher=services.publisher,
    inbox=InboxEvent,
    stuck_orders=selectors.tickets_stuck,
    ticks=(services.tickets_advance_due,),
    next_due=selectors.tickets_next_due,
    timers_due=selectors.tickets_due,
)

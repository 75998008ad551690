"""The Palmetto App as a service: it consumes orders and cancellation requests and publishes the
kitchen's status changes. Each adapter below turns one event into one service call."""

from common.declaration import Service, Subscription
from common.deployment import PALMETTO
from common.events import CancellationRequested, Envelope, OrderPlaced
from common.topics import ORDERS

from . import selectors, services
from .models import InboxEvent


def _order_placed(event: Envelope[OrderPlaced]) -> None:
    services.ticket_open(order_id=event.order_id, correlation_id=event.correlation_id, order=event.payload)


def _cancellation_requested(event: Envelope[CancellationRequested]) -> None:
    services.ticket_cancel(order_id=event.order_id, correlation_id=event.correlation_id, reason=event.payload.reason)


SERVICE = Service(
    spec=PALMETTO,
    subscriptions=(
        Subscription(ORDERS, {OrderPlaced: _order_placed, CancellationRequested: _cancellation_requested}),
    ),
    publisher=services.publisher,
    inbox=InboxEvent,
    stuck_orders=selectors.tickets_stuck,
    ticks=(services.tickets_advance_due,),
    timers_due=selectors.tickets_due,
)

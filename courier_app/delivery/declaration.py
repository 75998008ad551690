"""The Courier App as a service.

It consumes the same notifications topic it writes to, so it subscribes with a filter: only
READY_FOR_DELIVERY is acted on; every other status, its own OUT_FOR_DELIVERY and DELIVERED
included, is skipped before it touches the database.
"""

from typing import Any

from common.declaration import Service, Subscription
from common.deployment import COURIER
from common.events import Envelope, OrderStatusChanged
from common.lifecycle import Status
from common.topics import NOTIFICATIONS

from . import selectors, services
from .models import InboxEvent


def is_ready_for_delivery(event: Envelope[Any]) -> bool:
    """The only event the courier service acts on; everything else on notifications is ignored."""
    return isinstance(event.payload, OrderStatusChanged) and event.payload.status == Status.READY_FOR_DELIVERY


def _ready_for_delivery(event: Envelope[OrderStatusChanged]) -> None:
    services.delivery_open(
        order_id=event.order_id, correlation_id=event.correlation_id, ready_sequence=event.payload.sequence,
        ready_at=event.occurred_at, cash_due=event.payload.cash_due,
    )


SERVICE = Service(
    spec=COURIER,
    subscriptions=(
        Subscription(NOTIFICATIONS, {OrderStatusChanged: _ready_for_delivery}, wants=is_ready_for_delivery),
    ),
    publisher=services.publisher,
    inbox=InboxEvent,
    stuck_orders=selectors.deliveries_stuck,
    ticks=(services.deliveries_advance_due,),
    next_due=selectors.deliveries_next_due,
    timers_due=selectors.deliveries_due,
)

"""The Courier App as a service.

It consumes the same notifications topic it writes to, so it subscribes with a
filter: only READY_FOR_DELIVERY is acted on; every other status, its own
OUT_FOR_DELIVERY and DELIVERED included, is skipped before it touches the database.
"""

from common.events import OrderStatusChanged
from common.kafka.consumer import Subscription
from common.service import Service
from common.topics import NOTIFICATIONS

from . import handlers, selectors, services
from .models import InboxEvent, OutboxMessage

SERVICE = Service(
    name="courier",
    subscriptions=(
        Subscription(
            NOTIFICATIONS, {OrderStatusChanged: handlers.on_ready_for_delivery}, wants=services.is_ready_for_delivery
        ),
    ),
    outbox=OutboxMessage,
    inbox=InboxEvent,
    stuck_orders=selectors.deliveries_stuck,
    # Completing frees couriers, so it runs before dispatching.
    ticks=(services.deliveries_complete_due, services.deliveries_dispatch),
)

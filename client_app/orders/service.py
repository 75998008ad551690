"""The Client App as a service: it consumes notifications and publishes orders and cancellation requests."""

from common.events import CancellationDeclined, OrderStatusChanged
from common.kafka.consumer import Subscription
from common.service import Service
from common.topics import NOTIFICATIONS

from . import handlers, selectors
from .models import InboxEvent, OutboxMessage

SERVICE = Service(
    name="client",
    subscriptions=(
        Subscription(
            NOTIFICATIONS,
            {OrderStatusChanged: handlers.on_status_changed, CancellationDeclined: handlers.on_cancellation_declined},
        ),
    ),
    outbox=OutboxMessage,
    inbox=InboxEvent,
    stuck_orders=selectors.orders_stuck,
)

"""The Client App as a service: it consumes notifications and publishes orders."""

from common.kafka.consumer import Subscription
from common.service import Service
from common.topics import NOTIFICATIONS

from . import handlers
from .models import InboxEvent, OutboxMessage

SERVICE = Service(
    name="client",
    subscriptions=(Subscription(NOTIFICATIONS, handlers.on_status_changed),),
    outbox=OutboxMessage,
    inbox=InboxEvent,
)

"""The Palmetto App as a service: it consumes orders and publishes kitchen status changes."""

from common.kafka.consumer import Subscription
from common.service import Service
from common.topics import ORDERS

from . import handlers, services
from .models import InboxEvent, OutboxMessage

SERVICE = Service(
    name="palmetto",
    subscriptions=(Subscription(ORDERS, handlers.on_order_placed),),
    outbox=OutboxMessage,
    inbox=InboxEvent,
    ticks=(services.tickets_advance_due,),
)

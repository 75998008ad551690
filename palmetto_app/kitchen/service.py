"""The Palmetto App as a service: it consumes orders and cancellation requests, publishes kitchen status changes."""

from common.events import CancellationRequested, OrderPlaced
from common.kafka.consumer import Subscription
from common.service import Service
from common.topics import ORDERS

from . import handlers, selectors, services
from .models import InboxEvent, OutboxMessage

SERVICE = Service(
    name="palmetto",
    subscriptions=(
        Subscription(ORDERS, {OrderPlaced: handlers.on_order_placed, CancellationRequested: handlers.on_cancellation_requested}),
    ),
    outbox=OutboxMessage,
    inbox=InboxEvent,
    stuck_orders=selectors.tickets_stuck,
    ticks=(services.tickets_advance_due,),
)

"""What a service is, as data: what it consumes, its outbox and inbox, its durable timers,
and which of its orders may be stuck.

Each service declares one :class:`Service` (``<app>/service.py``) and points
``settings.PALMETTO_SERVICE`` at it; ``runconsumers`` and the tests read that
declaration instead of knowing any service by name.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Callable

from django.conf import settings
from django.utils.module_loading import import_string

from common.kafka.consumer import Subscription
from common.models import InboxEvent, OutboxMessage

# A durable-timer tick: does the work that is due now and returns how much it did.
Tick = Callable[[], int]

# ``stuck_orders(since, before)``: ids of this service's orders whose last change happened in
# [since, before] and that may be waiting for an event of ours another service never received
# (acks=1 can lose an acknowledged message). ``manage.py reconcile`` re-publishes their latest
# outbox event; that is safe for any order, stuck or not, because every consumer is idempotent.
StuckOrders = Callable[[datetime, datetime], list[uuid.UUID]]


@dataclass(frozen=True)
class Service:
    name: str
    subscriptions: tuple[Subscription, ...]
    outbox: type[OutboxMessage]
    inbox: type[InboxEvent]
    stuck_orders: StuckOrders
    ticks: tuple[Tick, ...] = ()


def current_service() -> Service:
    """The service this Django project runs, from ``settings.PALMETTO_SERVICE``."""
    path = getattr(settings, "PALMETTO_SERVICE", None)
    if not path:
        raise RuntimeError("settings.PALMETTO_SERVICE is not set: run with one service's settings")
    return import_string(path)

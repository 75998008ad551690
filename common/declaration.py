"""What a service is, as data: what it consumes and what each event does, its outbox and inbox,
its durable timers, and which of its orders may be stuck.

Each service declares one :class:`Service` in ``<app>/declaration.py``; that module is the seam
between transport and domain. Its small adapters receive an :class:`~common.events.Envelope`
whose payload type the consumer has already narrowed (it dispatches on the payload's class) and
call a service function with plain keyword arguments, e.g.
``ticket_open(order_id=..., correlation_id=..., order=event.payload)``. Service functions never
see an envelope. ``runconsumers``, the operator commands and the tests read the declaration
named by the service's row in :mod:`common.deployment` instead of knowing any service by name.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.utils.module_loading import import_string

from common.deployment import ServiceSpec
from common.events import Envelope, Event
from common.models import InboxEvent, OutboxMessage
from common.publishing import Publisher
from common.topics import Topic

# Runs inside the consumer's batch transaction. Raises InvalidEvent for an event that can never be
# applied; anything else it raises is transient and the batch is retried.
Handler = Callable[[Envelope[Any]], None]

# A durable-timer tick: does the work that is due now and returns how much it did.
Tick = Callable[[], int]

# Seconds until the service's next durable timer falls due (None: none is set), so the timer loop
# sleeps exactly that long; a timer set meanwhile wakes it through PostgreSQL NOTIFY (common.db).
NextDue = Callable[[], float | None]

# ``stuck_orders(since, before)``: ids of this service's orders whose last change happened in
# [since, before] and that may be waiting for an event of ours another service never received
# (acks=1 can lose an acknowledged message). ``manage.py reconcile`` re-publishes their latest
# outbox event; that is safe for any order, stuck or not, because every consumer is idempotent.
StuckOrders = Callable[[datetime, datetime], list[uuid.UUID]]

# ``timers_due(moment)``: how many of the service's durable timers were due at or before ``moment`` and
# have not fired yet (read for the metrics: due now, and overdue).
TimersDue = Callable[[datetime], int]


@dataclass(frozen=True)
class Job:
    """A background job ``runconsumers`` runs in a loop of its own, like the timers: ``tick`` does what is
    due now and returns how much it did; ``backlog()`` answers (rows waiting, creation time of the
    oldest or None) for the metrics."""

    name: str
    tick: Tick
    backlog: Callable[[], tuple[int, datetime | None]]


def _always(_: Envelope[Any]) -> bool:
    return True


@dataclass(frozen=True)
class Subscription:
    """A service consumes ``topic``: one handler per event class it acts on; ``wants`` narrows further.

    Events with no handler, or that ``wants`` declines, are skipped without touching the
    database. A handler is only ever called with an envelope whose payload is an instance of
    the class it is registered for.
    """

    topic: Topic
    handlers: Mapping[type[Event], Handler]
    wants: Callable[[Envelope[Any]], bool] = field(default=_always)

    def handler_for(self, envelope: Envelope[Any]) -> Handler | None:
        """The handler for ``envelope``. An older event version is first read as the newest
        (:meth:`~common.events.Envelope.upgraded`), so handlers and ``wants`` see only that."""
        newest = envelope.upgraded()
        handler = self.handlers.get(type(newest.payload))
        if handler is None or not self.wants(newest):
            return None
        return handler if newest is envelope else lambda _: handler(newest)


@dataclass(frozen=True)
class Service:
    spec: ServiceSpec
    subscriptions: tuple[Subscription, ...]
    publisher: Publisher
    inbox: type[InboxEvent]
    stuck_orders: StuckOrders
    ticks: tuple[Tick, ...] = ()
    next_due: NextDue | None = None
    timers_due: TimersDue | None = None
    jobs: tuple[Job, ...] = ()

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def outbox(self) -> type[OutboxMessage]:
        return self.publisher.outbox


def current_service() -> Service:
    """The service this Django project runs: the declaration of its row (``settings.PALMETTO_SERVICE``)."""
    spec = getattr(settings, "PALMETTO_SERVICE", None)
    if spec is None:
        raise RuntimeError("settings.PALMETTO_SERVICE is not set: run with one service's settings")
    return import_string(spec.declaration)

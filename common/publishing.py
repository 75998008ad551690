"""A service's one way to publish: a :class:`Publisher` bound to its outbox table and its name.

Each service makes one (``publisher = Publisher(PALMETTO, OutboxMessage)``) and its service
functions call ``publisher.announce(Status.ACCEPTED, ...)`` or ``publisher.publish(payload, ...)``
inside the transaction that makes the change; the relay (:mod:`common.outbox`) sends the rows
after commit. The publisher stamps the service's name as the envelope's ``source`` and refuses
a status the lifecycle gives to another service.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import TypeVar

from common.db import insert_each
from common.deployment import ServiceSpec
from common.events import Envelope, Event, OrderStatusChanged, encode
from common.lifecycle import ANNOUNCED_BY, Status
from common.models import OutboxMessage

P = TypeVar("P", bound=Event)


class Publisher:
    def __init__(self, service: ServiceSpec, outbox: type[OutboxMessage]) -> None:
        self.service = service
        self.outbox = outbox
        self._local = threading.local()  # the rows held by batched(), per thread

    def publish(self, payload: P, *, order_id: uuid.UUID, correlation_id: str) -> Envelope[P]:
        """Queue ``payload`` about one order for publication; return its envelope (new event id, stamped now).

        Call inside the transaction that makes the change: a rollback publishes nothing.
        """
        envelope = Envelope.new(payload, order_id=order_id, correlation_id=correlation_id, source=self.service.name)
        self.write(envelope)
        return envelope

    def write(self, envelope: Envelope[Event]) -> None:
        """Queue an envelope built elsewhere exactly as it is (same event id): for tests and tools.

        Inside :meth:`batched` the row is held and inserted with the others when the block ends.
        """
        key, value, headers = encode(envelope)
        row = self.outbox(
            topic=envelope.payload.topic.name,
            key=key.decode(),
            event_id=envelope.event_id,
            event_type=envelope.event_type,
            order_id=envelope.order_id,
            value=value.decode(),
            headers=[[name, raw.decode()] for name, raw in headers],
        )
        pending = getattr(self._local, "pending", None)
        if pending is None:
            insert_each(self.outbox, [row])
        else:
            pending.append(row)

    @contextmanager
    def batched(self) -> Iterator[None]:
        """Within this block (inside a transaction) events queued on this thread are held, then
        inserted in one statement, in the order they were queued, when the block ends normally;
        an exception discards them with the rest of the transaction.

        For code that announces many changes at once (a timer tick, a consumer's batch): one
        round trip instead of one per event. The relay publishes in ``id`` order, and the rows
        get their ids in the order of the list, so each order's events keep their order. Nested
        blocks join the outermost.
        """
        if getattr(self._local, "pending", None) is not None:
            yield
            return
        self._local.pending = pending = []
        try:
            yield
        finally:
            self._local.pending = None
        insert_each(self.outbox, pending)

    def announce(
        self,
        status: Status,
        *,
        order_id: uuid.UUID,
        correlation_id: str,
        sequence: int,
        reason: str | None = None,
        courier: str | None = None,
        cash_due: Decimal | None = None,
    ) -> Envelope[OrderStatusChanged]:
        """Queue an ``OrderStatusChanged``: the order is now ``status``, change number ``sequence``.

        Raises ``ValueError`` when the lifecycle gives ``status`` to another service, or the
        change breaks the event's rules (a rejection without a reason, ...).
        """
        if ANNOUNCED_BY[status] != self.service.name:
            raise ValueError(f"{self.service.name} may not announce {status}: {ANNOUNCED_BY[status]} does")
        change = OrderStatusChanged(
            status=status, sequence=sequence, reason=reason, courier=courier, cash_due=cash_due
        )
        change.validate()
        return self.publish(change, order_id=order_id, correlation_id=correlation_id)

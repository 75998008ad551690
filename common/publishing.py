"""A service's one way to publish: a :class:`Publisher` bound to its outbox table and its name.

Each service makes one (``publisher = Publisher(PALMETTO, OutboxMessage)``) and its service
functions call ``publisher.announce(Status.ACCEPTED, ...)`` or ``publisher.publish(payload, ...)``
inside the transaction that makes the change; the relay (:mod:`common.outbox`) sends the rows
after commit. The publisher stamps the service's name as the envelope's ``source`` and refuses
a status the lifecycle gives to another service.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Protocol, TypeVar

from common.deployment import ServiceSpec
from common.events import Envelope, Event, OrderStatusChanged, encode
from common.lifecycle import ANNOUNCED_BY, Status
from common.models import OutboxMessage

P = TypeVar("P", bound=Event)


class OrderRecord(Protocol):
    """A service's own record of an order that numbers the status changes it announces."""

    order_id: uuid.UUID
    correlation_id: str
    sequence: int  # number of the last status change about this order that this record saw


class Publisher:
    def __init__(self, service: ServiceSpec, outbox: type[OutboxMessage]) -> None:
        self.service = service
        self.outbox = outbox

    def publish(self, payload: P, *, order_id: uuid.UUID, correlation_id: str) -> Envelope[P]:
        """Queue ``payload`` about one order for publication; return its envelope (new event id, stamped now).

        Call inside the transaction that makes the change: a rollback publishes nothing.
        """
        envelope = Envelope.new(payload, order_id=order_id, correlation_id=correlation_id, source=self.service.name)
        self.write(envelope)
        return envelope

    def write(self, envelope: Envelope[Event]) -> OutboxMessage:
        """Queue an envelope built elsewhere exactly as it is (same event id): for tests and tools."""
        key, value, headers = encode(envelope)
        return self.outbox.objects.create(
            topic=envelope.payload.topic.name,
            key=key.decode(),
            event_id=envelope.event_id,
            event_type=envelope.event_type,
            order_id=envelope.order_id,
            value=value.decode(),
            headers=[[name, raw.decode()] for name, raw in headers],
        )

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

    def announce_next(
        self,
        record: OrderRecord,
        status: Status,
        *,
        reason: str | None = None,
        courier: str | None = None,
        cash_due: Decimal | None = None,
    ) -> Envelope[OrderStatusChanged]:
        """:meth:`announce` the next change of ``record``'s order, numbering it ``record.sequence + 1``.

        Bumps ``record.sequence``; the caller saves the record in the same transaction.
        """
        record.sequence += 1
        return self.announce(
            status, order_id=record.order_id, correlation_id=record.correlation_id, sequence=record.sequence,
            reason=reason, courier=courier, cash_due=cash_due,
        )

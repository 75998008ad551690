"""The event contract: one JSON envelope, typed payload classes, one codec.

The payload classes below *are* the schema. Each is a frozen dataclass with an
``event_type`` and a ``version``; :func:`decode` checks every field's type and
each class's own rules, and anything malformed, unknown or invalid raises
:class:`~common.errors.InvalidEvent` -- never anything else -- so a consumer
can always dead-letter it and move on.

Envelope (JSON, UTF-8)::

    {"event_id": UUID, "event_type": str, "version": int,
     "occurred_at": UTC ISO-8601, "correlation_id": str, "order_id": UUID,
     "source": service, "payload": {...}}

Kafka headers repeat ``event_id``, ``event_type``, ``version`` and
``correlation_id``; the message key is the correlation ID.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
import types
import typing
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar, Generic, TypeVar

from common.deployment import NAMES
from common.errors import InvalidEvent
from common.lifecycle import Status
from common.topics import NOTIFICATIONS, ORDERS, Topic

CORRELATION_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")
ENVELOPE_FIELDS = frozenset(
    {"event_id", "event_type", "version", "occurred_at", "correlation_id", "order_id", "source", "payload"}
)
# The services that publish events: an envelope from anyone else is invalid.
SOURCES = frozenset(NAMES)

Headers = list[tuple[str, bytes]]


class Event:
    """Base of every payload class. Subclasses are frozen dataclasses registered with :func:`event`."""

    event_type: ClassVar[str]
    version: ClassVar[int]
    topic: ClassVar[Topic]

    def validate(self) -> None:
        """Check rules beyond field types; raise ``ValueError`` naming the problem."""

    def upgraded(self) -> Event:
        """This payload read as the newest version of its event; older versions override it."""
        return self


E = TypeVar("E", bound=type[Event])
REGISTRY: dict[tuple[str, int], type[Event]] = {}


def event(event_type: str, version: int, topic: Topic):
    """Register a payload class as ``(event_type, version)`` published on ``topic``."""

    def register(cls: E) -> E:
        key = (event_type, version)
        if key in REGISTRY:
            raise RuntimeError(f"event {key} registered twice")
        cls.event_type, cls.version, cls.topic = event_type, version, topic
        REGISTRY[key] = cls
        return cls

    return register


# --------------------------------------------------------------------------- payloads


@dataclass(frozen=True)
class Customer:
    name: str
    phone: str

    def validate(self) -> None:
        _text(self.name, "customer.name", 100)
        _text(self.phone, "customer.phone", 32)


@dataclass(frozen=True)
class DeliveryAddress:
    street: str
    city: str
    postal_code: str

    def validate(self) -> None:
        _text(self.street, "delivery_address.street", 200)
        _text(self.city, "delivery_address.city", 100)
        _text(self.postal_code, "delivery_address.postal_code", 16)


@dataclass(frozen=True)
class OrderLine:
    item_id: str
    name: str
    quantity: int
    unit_price: Decimal

    def validate(self) -> None:
        _text(self.item_id, "item_id", 64)
        if self.quantity <= 0:
            raise ValueError(f"quantity of {self.item_id!r} must be positive, got {self.quantity}")
        if self.unit_price < 0:
            raise ValueError(f"unit_price of {self.item_id!r} must not be negative")


@event("OrderPlaced", 1, ORDERS)
@dataclass(frozen=True)
class OrderPlacedV1(Event):
    """A customer placed an order (before payments existed); read as v2 through :meth:`upgraded`."""

    customer: Customer
    delivery_address: DeliveryAddress
    items: list[OrderLine]
    currency: str
    total_amount: Decimal
    delivery_fee: Decimal
    grand_total: Decimal

    def validate(self) -> None:
        self.customer.validate()
        self.delivery_address.validate()
        if not self.items:
            raise ValueError("an order needs at least one item")
        for line in self.items:
            line.validate()
        if not re.fullmatch(r"[A-Z]{3}", self.currency):
            raise ValueError(f"currency must be an ISO 4217 code, got {self.currency!r}")
        if self.total_amount != sum((line.unit_price * line.quantity for line in self.items), Decimal(0)):
            raise ValueError("total_amount is not the sum of the items")
        if self.delivery_fee < 0 or self.grand_total != self.total_amount + self.delivery_fee:
            raise ValueError("grand_total is not total_amount plus delivery_fee")

    def upgraded(self) -> OrderPlaced:
        """The v2 reading: an order placed before payments existed is paid in cash on delivery."""
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(OrderPlacedV1)}
        return OrderPlaced(**fields, payment=PaymentTerms(method=CASH, amount=self.grand_total))


# Payment methods (``common.lifecycle.PaymentMethod`` holds the same values; events do not import it).
CARD, CASH = "CARD", "CASH"


@dataclass(frozen=True)
class PaymentTerms:
    """How an order is paid: ``CARD`` (the customer's Palmetto card, charged before the kitchen
    starts) or ``CASH`` (collected by the courier on delivery), and the amount."""

    method: str
    amount: Decimal

    def validate(self) -> None:
        if self.method not in (CARD, CASH):
            raise ValueError(f"payment.method must be CARD or CASH, got {self.method!r}")
        if self.amount < 0:
            raise ValueError("payment.amount must not be negative")


@event("OrderPlaced", 2, ORDERS)
@dataclass(frozen=True)
class OrderPlaced(OrderPlacedV1):
    """A customer placed an order; the kitchen decides whether it can make it.

    v2 adds ``payment``. A ``CARD`` order waits in the kitchen until the Client App's
    ``PaymentCharged`` (or ``PaymentDeclined``) follows it in the same partition; a ``CASH``
    order starts at once.
    """

    payment: PaymentTerms

    def validate(self) -> None:
        super().validate()
        self.payment.validate()
        if self.payment.amount != self.grand_total:
            raise ValueError("payment.amount is not the grand_total")

    def upgraded(self) -> OrderPlaced:
        return self


@event("OrderStatusChanged", 1, NOTIFICATIONS)
@dataclass(frozen=True)
class OrderStatusChangedV1(Event):
    """An order moved to ``status``; ``sequence`` grows by one per change of the same order."""

    status: Status
    sequence: int
    reason: str | None = None
    courier: str | None = None

    def validate(self) -> None:
        if self.sequence < 1:
            raise ValueError("sequence starts at 1 (PLACED is 0)")
        if self.status == Status.PLACED:
            raise ValueError("PLACED is announced by OrderPlaced, not OrderStatusChanged")
        if self.status == Status.REJECTED and not self.reason:
            raise ValueError("a REJECTED order needs a reason")
        if self.status == Status.OUT_FOR_DELIVERY and not self.courier:
            raise ValueError("OUT_FOR_DELIVERY names the courier")

    def upgraded(self) -> OrderStatusChanged:
        """The v2 reading: no cash to collect."""
        return OrderStatusChanged(status=self.status, sequence=self.sequence, reason=self.reason, courier=self.courier)


@event("OrderStatusChanged", 2, NOTIFICATIONS)
@dataclass(frozen=True)
class OrderStatusChanged(OrderStatusChangedV1):
    """An order moved to ``status``; ``sequence`` grows by one per change of the same order.

    v2 adds ``cash_due``: on ``READY_FOR_DELIVERY`` of a cash order, what the courier collects.
    """

    cash_due: Decimal | None = None

    def validate(self) -> None:
        super().validate()
        if self.cash_due is not None and (self.cash_due < 0 or self.status != Status.READY_FOR_DELIVERY):
            raise ValueError("cash_due is a non-negative amount on READY_FOR_DELIVERY only")

    def upgraded(self) -> OrderStatusChanged:
        return self


@event("CancellationRequested", 1, ORDERS)
@dataclass(frozen=True)
class CancellationRequested(Event):
    """The customer asked to cancel; the kitchen decides (it follows OrderPlaced in the order's partition)."""

    reason: str | None = None

    def validate(self) -> None:
        if self.reason is not None and len(self.reason) > 300:
            raise ValueError("reason is longer than 300 characters")


@event("CancellationDeclined", 1, NOTIFICATIONS)
@dataclass(frozen=True)
class CancellationDeclined(Event):
    """The kitchen refused a cancellation because the order is past the point of no return."""

    reason: str

    def validate(self) -> None:
        _text(self.reason, "reason", 300)


@event("PaymentCharged", 1, ORDERS)
@dataclass(frozen=True)
class PaymentCharged(Event):
    """The Client App charged the customer's card for a card order; the kitchen may start it."""

    amount: Decimal

    def validate(self) -> None:
        if self.amount < 0:
            raise ValueError("amount must not be negative")


@event("PaymentDeclined", 1, ORDERS)
@dataclass(frozen=True)
class PaymentDeclined(Event):
    """The Client App could not charge a card order (``reason`` says why); the kitchen rejects it."""

    amount: Decimal
    reason: str

    def validate(self) -> None:
        _text(self.reason, "reason", 200)


@event("PaymentRefunded", 1, ORDERS)
@dataclass(frozen=True)
class PaymentRefunded(Event):
    """A charged card order ended CANCELLED or REJECTED and the Client App gave the money back.

    Informational on ``orders`` (the kitchen has nothing to do): the compensation's record in the log.
    """

    amount: Decimal
    reason: str

    def validate(self) -> None:
        _text(self.reason, "reason", 200)


@event("CashCollected", 1, NOTIFICATIONS)
@dataclass(frozen=True)
class CashCollected(Event):
    """The courier delivered a cash order and collected ``amount``."""

    amount: Decimal
    courier: str

    def validate(self) -> None:
        if self.amount < 0:
            raise ValueError("amount must not be negative")
        _text(self.courier, "courier", 100)


# --------------------------------------------------------------------------- envelope


P = TypeVar("P", bound=Event, covariant=True)


@dataclass(frozen=True)
class Envelope(Generic[P]):
    """One message: metadata plus a typed payload (``Envelope[OrderPlaced]`` carries an ``OrderPlaced``)."""

    event_id: uuid.UUID
    occurred_at: datetime
    correlation_id: str
    order_id: uuid.UUID
    source: str
    payload: P

    @property
    def event_type(self) -> str:
        return self.payload.event_type

    @property
    def version(self) -> int:
        return self.payload.version

    def upgraded(self) -> Envelope[Event]:
        """This envelope with its payload read as the newest version of its event (same event id),
        so a service handles only the newest version and old messages still work."""
        payload = self.payload.upgraded()
        return self if payload is self.payload else dataclasses.replace(self, payload=payload)

    @classmethod
    def new(cls, payload: P, *, order_id: uuid.UUID, correlation_id: str, source: str) -> Envelope[P]:
        """A fresh envelope for ``payload`` with a new event id, stamped now (UTC)."""
        return cls(
            event_id=uuid.uuid4(),
            occurred_at=datetime.now(UTC),
            correlation_id=correlation_id,
            order_id=order_id,
            source=source,
            payload=payload,
        )


def encode(envelope: Envelope) -> tuple[bytes, bytes, Headers]:
    """Return ``(key, value, headers)`` for Kafka; the key is the correlation ID."""
    body = {
        "event_id": str(envelope.event_id),
        "event_type": envelope.event_type,
        "version": envelope.version,
        "occurred_at": envelope.occurred_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "correlation_id": envelope.correlation_id,
        "order_id": str(envelope.order_id),
        "source": envelope.source,
        "payload": _dump(envelope.payload),
    }
    value = _JSON_OUT.encode(body).encode()
    return envelope.correlation_id.encode(), value, headers_for(envelope)


# Each header and how it is read off an envelope: encode writes them, decode checks them.
_HEADERS: dict[str, Callable[[Envelope], str]] = {
    "event_id": lambda envelope: str(envelope.event_id),
    "event_type": lambda envelope: envelope.event_type,
    "version": lambda envelope: str(envelope.version),
    "correlation_id": lambda envelope: envelope.correlation_id,
}


def headers_for(envelope: Envelope) -> Headers:
    return [(name, value(envelope).encode()) for name, value in _HEADERS.items()]


def decode(value: bytes | None, headers: Iterable[tuple[str, bytes | None]] | None = None) -> Envelope:
    """Parse and validate one message. Raises :class:`InvalidEvent` and nothing else."""
    try:
        return _decode(value, headers)
    except InvalidEvent:
        raise
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError, ArithmeticError) as exc:
        raise InvalidEvent(str(exc) or type(exc).__name__) from exc


def _decode(value: bytes | None, headers: Iterable[tuple[str, bytes | None]] | None) -> Envelope:
    if value is None:
        raise InvalidEvent("message has no value")
    try:
        body = _JSON.decode(value.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidEvent(f"not UTF-8 JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise InvalidEvent("envelope must be a JSON object")
    if body.keys() != ENVELOPE_FIELDS:
        missing = ENVELOPE_FIELDS - body.keys()
        if missing:
            raise InvalidEvent(f"envelope lacks {', '.join(sorted(missing))}")
        raise InvalidEvent(f"envelope has unknown fields {', '.join(sorted(body.keys() - ENVELOPE_FIELDS))}")
    event_type, version = body["event_type"], body["version"]
    if not isinstance(event_type, str) or type(version) is not int:
        raise InvalidEvent("event_type must be a string and version an integer")
    cls = REGISTRY.get((event_type, version))
    if cls is None:
        raise InvalidEvent(f"unknown event {event_type} version {version}")
    correlation_id = _decode_str(body["correlation_id"], "correlation_id")
    if not CORRELATION_ID_RE.match(correlation_id):
        raise InvalidEvent(f"correlation_id {correlation_id!r} is not a valid correlation ID")
    source = _decode_str(body["source"], "source")
    if source not in SOURCES:
        raise InvalidEvent(f"unknown source {source!r}")
    envelope = Envelope(
        event_id=_decode_uuid(body["event_id"], "event_id"),
        occurred_at=_decode_datetime(body["occurred_at"], "occurred_at"),
        correlation_id=correlation_id,
        order_id=_decode_uuid(body["order_id"], "order_id"),
        source=source,
        payload=_coerce(body["payload"], cls, "payload"),
    )
    _check_headers(envelope, headers)
    return envelope


def _check_headers(envelope: Envelope, headers: Iterable[tuple[str, bytes | None]] | None) -> None:
    """Headers are optional (other clients may omit them) but must agree with the body when present."""
    for name, raw in headers or ():
        value = _HEADERS.get(name)
        if value is not None and (raw or b"") != value(envelope).encode():
            raise InvalidEvent(f"header {name} disagrees with the message body")


# --------------------------------------------------------------------------- typed (de)serialisation


def _dump(obj: Any) -> Any:
    names = _field_names(type(obj))
    if names is not None:
        return {name: _dump(getattr(obj, name)) for name in names}
    if isinstance(obj, list):
        return [_dump(v) for v in obj]
    if isinstance(obj, Decimal):
        return str(obj)
    if isinstance(obj, Status):
        return obj.value
    return obj


@functools.cache
def _field_names(cls: type) -> tuple[str, ...] | None:
    """A dataclass's field names, worked out once per class; None for anything else."""
    return tuple(f.name for f in dataclasses.fields(cls)) if dataclasses.is_dataclass(cls) else None


def _coerce(raw: Any, hint: Any, path: str) -> Any:
    """Turn JSON ``raw`` into ``hint``'s type, strictly; ``ValueError`` names ``path`` on mismatch."""
    return _decoder(hint)(raw, path)


_Decoder = Callable[[Any, str], Any]
# One decoder and one encoder for every message, not one built by json.loads or json.dumps for each
# (parse_float: money stays exact).
_JSON = json.JSONDecoder(parse_float=Decimal)
_JSON_OUT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


@functools.cache
def _decoder(hint: Any) -> _Decoder:
    """The function that turns JSON into ``hint``'s type, built once per type.

    Every consumer decodes every message it reads; working out a type's shape (its origin, its
    dataclass fields and their type hints) on every message was most of the cost of decoding.
    """
    origin = typing.get_origin(hint)
    if origin in (types.UnionType, typing.Union):
        options = typing.get_args(hint)
        (inner,) = [o for o in options if o is not type(None)]
        decode_inner, optional = _decoder(inner), type(None) in options

        def union(raw: Any, path: str) -> Any:
            return None if raw is None and optional else decode_inner(raw, path)

        return union
    if origin is list:
        (inner,) = typing.get_args(hint)
        decode_item = _decoder(inner)

        def items(raw: Any, path: str) -> Any:
            if not isinstance(raw, list):
                raise ValueError(f"{path} must be a list")
            return [decode_item(v, f"{path}[{i}]") for i, v in enumerate(raw)]

        return items
    if dataclasses.is_dataclass(hint):
        return _object_decoder(hint)
    return _scalar(hint)


def _object_decoder(cls: type) -> _Decoder:
    hints = typing.get_type_hints(cls)
    fields = [(f.name, f.default is dataclasses.MISSING, _decoder(hints[f.name])) for f in dataclasses.fields(cls)]
    names = frozenset(name for name, _, _ in fields)

    def decode_object(raw: Any, path: str) -> Any:
        if not isinstance(raw, dict):
            raise ValueError(f"{path} must be an object")
        if not names.issuperset(raw):
            raise ValueError(f"{path} has unknown fields {', '.join(sorted(raw.keys() - names))}")
        values = {}
        for name, required, decode in fields:
            if name in raw:
                values[name] = decode(raw[name], f"{path}.{name}")
            elif required:
                raise ValueError(f"{path}.{name} is required")
        obj = cls(**values)
        try:
            obj.validate()
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from exc
        return obj

    return decode_object


def _decode_str(raw: Any, path: str) -> str:
    if not isinstance(raw, str):
        raise ValueError(f"{path} must be a string")
    return raw


def _decode_int(raw: Any, path: str) -> int:
    if type(raw) is not int:
        raise ValueError(f"{path} must be an integer")
    return raw


def _decode_decimal(raw: Any, path: str) -> Decimal:
    # Money travels as a string ("12.50") so no float ever touches it.
    if not isinstance(raw, str):
        raise ValueError(f"{path} must be a decimal string")
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise ValueError(f"{path} is not a decimal number") from None
    if not value.is_finite():
        raise ValueError(f"{path} must be finite")
    return value


def _decode_uuid(raw: Any, path: str) -> uuid.UUID:
    if not isinstance(raw, str):
        raise ValueError(f"{path} must be a UUID string")
    return uuid.UUID(raw)


def _decode_datetime(raw: Any, path: str) -> datetime:
    if not isinstance(raw, str):
        raise ValueError(f"{path} must be an ISO-8601 string")
    value = datetime.fromisoformat(raw)
    if value.tzinfo is None:
        raise ValueError(f"{path} must carry a UTC offset")
    return value.astimezone(UTC)


def _decode_status(raw: Any, path: str) -> Status:
    if raw not in Status.__members__:
        raise ValueError(f"{path} is not a known status")
    return Status(raw)


_SCALARS: dict[Any, _Decoder] = {
    str: _decode_str, int: _decode_int, Decimal: _decode_decimal, uuid.UUID: _decode_uuid,
    datetime: _decode_datetime,
}


def _scalar(hint: Any) -> _Decoder:
    decoder = _SCALARS.get(hint)
    if decoder is not None:
        return decoder
    if isinstance(hint, type) and issubclass(hint, Status):
        return _decode_status

    def undecodable(raw: Any, path: str) -> Any:
        raise TypeError(f"no decoder for {hint!r} at {path}")

    return undecodable


def _text(value: str, path: str, max_length: int) -> None:
    if not value.strip():
        raise ValueError(f"{path} must not be blank")
    if len(value) > max_length:
        raise ValueError(f"{path} is longer than {max_length} characters")

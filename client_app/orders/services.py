"""Writes of the Client App. Each is one transaction; events leave through the outbox."""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction

from common import events
from common.errors import InvalidEvent
from common.events import CancellationDeclined, CancellationRequested, Envelope, OrderPlaced, OrderStatusChanged
from common.lifecycle import Status, can_move
from common.outbox import outbox_add

from .models import IdempotencyKey, MenuItem, Order, OrderItem, OrderStatusChange, OutboxMessage

log = logging.getLogger("palmetto.client.orders")

MAX_QUANTITY = 50
MAX_LINES = 30
CENT = Decimal("0.01")


class OrderRejected(ValueError):
    """The order request breaks a business rule; ``field`` names the offending input."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class CorrelationIdInUse(Exception):
    """Another order already carries this correlation ID (one ID per order)."""


class IdempotencyKeyReused(Exception):
    """The customer sent this ``Idempotency-Key`` before with a different request body."""


class TooLateToCancel(Exception):
    """The order is past the point of no return (ready, on its way, or finished)."""


class _ConcurrentKey(Exception):
    """Internal: another transaction stored the same idempotency key first."""


@dataclass(frozen=True)
class Placed:
    order: Order
    replayed: bool  # True when an Idempotency-Key returned an order placed earlier


@dataclass(frozen=True)
class LineRequest:
    item_id: str
    quantity: int
    price: Decimal | None = None  # what the client believes the price is; must match the menu


def delivery_fee_for(total: Decimal) -> Decimal:
    """Flat fee, free from a configured order value upwards."""
    config = settings.PALMETTO_CONFIG
    return Decimal(0).quantize(CENT) if total >= config.free_delivery_from else config.delivery_fee.quantize(CENT)


def _price_lines(lines: list[LineRequest]) -> list[OrderItem]:
    if not lines:
        raise OrderRejected("items", "an order needs at least one item")
    if len(lines) > MAX_LINES:
        raise OrderRejected("items", f"at most {MAX_LINES} different items per order")
    menu = {m.item_id: m for m in MenuItem.objects.filter(item_id__in=[line.item_id for line in lines])}
    items: list[OrderItem] = []
    seen: set[str] = set()
    for i, line in enumerate(lines):
        item = menu.get(line.item_id)
        if item is None:
            raise OrderRejected(f"items[{i}].itemId", f"unknown menu item {line.item_id!r}")
        if not item.available:
            raise OrderRejected(f"items[{i}].itemId", f"{item} is not available right now")
        if line.item_id in seen:
            raise OrderRejected(f"items[{i}].itemId", f"{line.item_id!r} appears twice; use one line with a quantity")
        seen.add(line.item_id)
        if not 1 <= line.quantity <= MAX_QUANTITY:
            raise OrderRejected(f"items[{i}].quantity", f"quantity must be between 1 and {MAX_QUANTITY}")
        if line.price is not None and line.price != item.price:
            raise OrderRejected(f"items[{i}].price", f"price of {line.item_id!r} is {item.price}, not {line.price}")
        items.append(
            OrderItem(
                item_id=item.item_id,
                name=str(item),
                quantity=line.quantity,
                unit_price=item.price,
                line_total=(item.price * line.quantity).quantize(CENT),
            )
        )
    return items


def request_fingerprint(body: object) -> str:
    """SHA-256 of the request body in canonical JSON: same body, same fingerprint."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def order_place(**kwargs) -> Placed:
    """Place an order (see :func:`_order_place_once`), once more if a concurrent request took the same key."""
    try:
        return _order_place_once(**kwargs)
    except _ConcurrentKey:
        return _order_place_once(**kwargs)


@transaction.atomic
def _order_place_once(
    *,
    customer_account: User,
    correlation_id: str,
    customer: events.Customer,
    address: events.DeliveryAddress,
    lines: list[LineRequest],
    currency: str | None = None,
    total_amount: Decimal | None = None,
    idempotency_key: str | None = None,
    fingerprint: str = "",
) -> Placed:
    """Price the order from the menu, store it as PLACED and queue ``OrderPlaced``.

    With an ``idempotency_key`` the customer's earlier order under that key is
    returned instead (``replayed``), provided the ``fingerprint`` matches.
    Raises :class:`OrderRejected` for a request that breaks a rule,
    :class:`CorrelationIdInUse` when the correlation ID belongs to another order
    and :class:`IdempotencyKeyReused` when the key came with another body.
    """
    if idempotency_key is not None:
        earlier = _replay(customer_account, idempotency_key, fingerprint)
        if earlier is not None:
            return Placed(earlier, replayed=True)
    shop_currency = settings.PALMETTO_CONFIG.currency
    if currency is not None and currency != shop_currency:
        raise OrderRejected("currency", f"the shop sells in {shop_currency}, not {currency}")
    items = _price_lines(lines)
    total = sum((item.line_total for item in items), Decimal(0)).quantize(CENT)
    if total_amount is not None and total_amount != total:
        raise OrderRejected("totalAmount", f"totalAmount is {total} for these items, not {total_amount}")
    fee = delivery_fee_for(total)
    try:
        with transaction.atomic():
            order = Order.objects.create(
                customer=customer_account,
                correlation_id=correlation_id,
                customer_name=customer.name,
                customer_phone=customer.phone,
                street=address.street,
                city=address.city,
                postal_code=address.postal_code,
                currency=shop_currency,
                total_amount=total,
                delivery_fee=fee,
                grand_total=total + fee,
            )
    except IntegrityError:
        raise CorrelationIdInUse(correlation_id) from None
    if idempotency_key is not None:
        try:
            with transaction.atomic():
                IdempotencyKey.objects.create(
                    customer=customer_account, key=idempotency_key, request_hash=fingerprint, order=order
                )
        except IntegrityError:
            # A concurrent request with the same key committed first: roll ours back and answer with theirs.
            raise _ConcurrentKey() from None
    for item in items:
        item.order = order
    OrderItem.objects.bulk_create(items)
    envelope = Envelope.new(
        OrderPlaced(
            customer=customer,
            delivery_address=address,
            items=[events.OrderLine(i.item_id, i.name, i.quantity, i.unit_price) for i in items],
            currency=shop_currency,
            total_amount=total,
            delivery_fee=fee,
            grand_total=total + fee,
        ),
        order_id=order.id,
        correlation_id=correlation_id,
        source="client",
    )
    OrderStatusChange.objects.create(
        order=order, status=Status.PLACED, sequence=0, occurred_at=envelope.occurred_at, source="client",
        event_id=envelope.event_id,
    )
    outbox_add(OutboxMessage, envelope)
    log.info("order %s placed: %d items, %s %s", order.id, len(items), order.grand_total, order.currency)
    return Placed(order, replayed=False)


def _replay(customer: User, key: str, fingerprint: str) -> Order | None:
    earlier = IdempotencyKey.objects.select_related("order").filter(customer=customer, key=key).first()
    if earlier is None:
        return None
    if earlier.request_hash != fingerprint:
        raise IdempotencyKeyReused(key)
    return earlier.order


def _locked_order(envelope: Envelope) -> Order:
    """The order an event is about, locked; an event about an order we never had can never succeed."""
    order = Order.objects.select_for_update().filter(id=envelope.order_id).first()
    if order is None:
        raise InvalidEvent(f"no order {envelope.order_id} in the Client App")
    if order.correlation_id != envelope.correlation_id:
        raise InvalidEvent(f"order {order.id} has correlation ID {order.correlation_id}, event says {envelope.correlation_id}")
    return order


def order_apply_status(envelope: Envelope) -> bool:
    """Apply a status event if it moves the order forward; return whether it did.

    Runs inside the consumer's transaction. Duplicates and stale events
    (sequence not above the order's, or an illegal move) change nothing.
    """
    change = envelope.payload
    assert isinstance(change, OrderStatusChanged)
    order = _locked_order(envelope)
    current = Status(order.status)
    if change.sequence <= order.status_sequence or not can_move(current, change.status):
        log.info("order %s: ignored %s #%d (order is %s #%d)", order.id, change.status, change.sequence, current, order.status_sequence)
        return False
    order.status, order.status_sequence = change.status, change.sequence
    if change.status == Status.CANCELLED:
        order.cancellation = Order.Cancellation.CANCELLED
    order.save(update_fields=["status", "status_sequence", "cancellation", "updated_at"])
    OrderStatusChange.objects.create(
        order=order,
        status=change.status,
        sequence=change.sequence,
        occurred_at=envelope.occurred_at,
        source=envelope.source,
        event_id=envelope.event_id,
        reason=change.reason or "",
        courier=change.courier or "",
    )
    log.info("order %s: %s -> %s (#%d)", order.id, current, change.status, change.sequence)
    return True



# Once the kitchen has finished the food it is too late to cancel.
_CANCELLABLE = frozenset({Status.PLACED, Status.ACCEPTED, Status.PREPARING})


@transaction.atomic
def order_request_cancel(order_id: uuid.UUID, *, reason: str = "") -> Order:
    """Ask the kitchen to cancel; the kitchen decides (CANCELLED, or a refusal in the history).

    Raises :class:`TooLateToCancel` when the order is already past the point of
    no return as far as this service knows. Asking again while a request is
    pending changes nothing.
    """
    order = Order.objects.select_for_update().get(id=order_id)
    if order.cancellation in (Order.Cancellation.REQUESTED, Order.Cancellation.CANCELLED):
        return order
    if Status(order.status) not in _CANCELLABLE:
        raise TooLateToCancel(order.status)
    order.cancellation, order.cancellation_reason = Order.Cancellation.REQUESTED, reason
    order.save(update_fields=["cancellation", "cancellation_reason", "updated_at"])
    envelope = Envelope.new(
        CancellationRequested(reason=reason or None), order_id=order.id, correlation_id=order.correlation_id, source="client"
    )
    OrderStatusChange.objects.create(
        order=order, kind=OrderStatusChange.Kind.CANCELLATION_REQUESTED, status=order.status,
        sequence=order.status_sequence, occurred_at=envelope.occurred_at, source="client", event_id=envelope.event_id,
        reason=reason,
    )
    outbox_add(OutboxMessage, envelope)
    log.info("order %s: cancellation requested", order.id)
    return order


def order_cancellation_refused(envelope: Envelope) -> None:
    """Record the kitchen's refusal in the order's history; runs inside the consumer's transaction."""
    declined = envelope.payload
    assert isinstance(declined, CancellationDeclined)
    order = _locked_order(envelope)
    order.cancellation = Order.Cancellation.REFUSED
    order.save(update_fields=["cancellation", "updated_at"])
    OrderStatusChange.objects.create(
        order=order, kind=OrderStatusChange.Kind.CANCELLATION_REFUSED, status=order.status,
        sequence=order.status_sequence, occurred_at=envelope.occurred_at, source=envelope.source,
        event_id=envelope.event_id, reason=declined.reason,
    )
    log.info("order %s: cancellation refused: %s", order.id, declined.reason)

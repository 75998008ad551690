"""Writes of the Client App. Each is one transaction; events leave through the outbox."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction

from common import events
from common.errors import InvalidEvent
from common.events import Envelope, OrderPlaced, OrderStatusChanged
from common.lifecycle import Status, can_move
from common.outbox import outbox_add

from .models import MenuItem, Order, OrderItem, OrderStatusChange, OutboxMessage

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


@transaction.atomic
def order_place(
    *,
    correlation_id: str,
    customer: events.Customer,
    address: events.DeliveryAddress,
    lines: list[LineRequest],
    currency: str | None = None,
    total_amount: Decimal | None = None,
) -> Order:
    """Price the order from the menu, store it as PLACED and queue ``OrderPlaced``.

    Raises :class:`OrderRejected` for a request that breaks a rule and
    :class:`CorrelationIdInUse` when the correlation ID belongs to another order.
    """
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
    return order


def order_apply_status(envelope: Envelope) -> bool:
    """Apply a status event if it moves the order forward; return whether it did.

    Runs inside the consumer's transaction. Duplicates and stale events
    (sequence not above the order's, or an illegal move) change nothing.
    """
    change = envelope.payload
    assert isinstance(change, OrderStatusChanged)
    order = Order.objects.select_for_update().filter(id=envelope.order_id).first()
    if order is None:
        raise InvalidEvent(f"no order {envelope.order_id} in the Client App")
    if order.correlation_id != envelope.correlation_id:
        raise InvalidEvent(f"order {order.id} has correlation ID {order.correlation_id}, event says {envelope.correlation_id}")
    current = Status(order.status)
    if change.sequence <= order.status_sequence or not can_move(current, change.status):
        log.info("order %s: ignored %s #%d (order is %s #%d)", order.id, change.status, change.sequence, current, order.status_sequence)
        return False
    order.status, order.status_sequence = change.status, change.sequence
    order.save(update_fields=["status", "status_sequence", "updated_at"])
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


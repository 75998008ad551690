"""Small builders for events used across the tests."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal

from common import events
from common.events import Envelope, OrderPlaced, OrderStatusChanged
from common.lifecycle import Status


def order_placed(
    *lines: tuple[str, int], order_id: uuid.UUID | None = None, correlation_id: str | None = None,
    method: str = events.CASH,
) -> Envelope:
    lines = lines or (("margherita-30", 2),)
    items = [events.OrderLine(item_id, item_id.title(), qty, Decimal("8.50")) for item_id, qty in lines]
    total = sum((line.unit_price * line.quantity for line in items), Decimal(0))
    return Envelope.new(
        OrderPlaced(
            customer=events.Customer("Ada", "+1 555 0100"),
            delivery_address=events.DeliveryAddress("12 Harbour Road", "Charleston", "29401"),
            items=items,
            currency="EUR",
            total_amount=total,
            delivery_fee=Decimal("3.50"),
            grand_total=total + Decimal("3.50"),
            payment=events.PaymentTerms(method=method, amount=total + Decimal("3.50")),
        ),
        order_id=order_id or uuid.uuid4(),
        correlation_id=correlation_id or str(uuid.uuid4()),
        source="client",
    )


def change(status: Status, sequence: int, **extra) -> OrderStatusChanged:
    """A valid status change: a courier for OUT_FOR_DELIVERY and a reason for REJECTED unless given."""
    if status == Status.OUT_FOR_DELIVERY:
        extra.setdefault("courier", "Rosa")
    if status == Status.REJECTED:
        extra.setdefault("reason", "out of dough")
    return OrderStatusChanged(status=status, sequence=sequence, **extra)


def status_changed(
    order_id: uuid.UUID, correlation_id: str, status: Status, sequence: int, *, source: str = "palmetto", **extra
) -> Envelope:
    return Envelope.new(
        change(status, sequence, **extra), order_id=order_id, correlation_id=correlation_id, source=source
    )


def apply_status(
    order_id: uuid.UUID, correlation_id: str, status: Status, sequence: int, *, source: str = "palmetto", **extra
) -> bool:
    """The Client App's service applying a status change, called as its declaration calls it."""
    from client_app.orders.services.tracking import order_apply_status

    return order_apply_status(
        order_id=order_id,
        correlation_id=correlation_id,
        change=change(status, sequence, **extra),
        event_id=uuid.uuid4(),
        occurred_at=datetime.now(UTC),
        source=source,
    )


def place_order(*lines: tuple[str, int]):
    """A Client App order placed through its service (items, PLACED history entry, queued OrderPlaced)."""
    from django.contrib.auth.models import User

    from client_app.orders.services.placing import order_place
    from client_app.orders.services.pricing import LineRequest

    return order_place(
        customer_account=User.objects.create_user(f"customer-{uuid.uuid4().hex[:8]}"),
        correlation_id=str(uuid.uuid4()),
        customer=events.Customer("Ada", "+1 555 0100"),
        address=events.DeliveryAddress("12 Harbour Road", "Charleston", "29401"),
        lines=[LineRequest(item_id, quantity) for item_id, quantity in (lines or (("margherita-30", 1),))],
    ).order


def open_ticket(placed: Envelope[OrderPlaced]):
    """The kitchen's service opening a ticket for ``placed``, called as its declaration calls it."""
    from palmetto_app.kitchen.services import ticket_open

    return ticket_open(order_id=placed.order_id, correlation_id=placed.correlation_id, order=placed.payload)

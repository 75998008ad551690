"""Small builders for events used across the tests."""

from __future__ import annotations

import uuid
from decimal import Decimal

from common import events
from common.events import Envelope, OrderPlaced, OrderStatusChanged
from common.lifecycle import Status


def order_placed(*lines: tuple[str, int], order_id: uuid.UUID | None = None, correlation_id: str | None = None) -> Envelope:
    lines = lines or (("margherita-30", 2),)
    items = [events.OrderLine(item_id, item_id.title(), qty, Decimal("8.50")) for item_id, qty in lines]
    total = sum((l.unit_price * l.quantity for l in items), Decimal(0))
    return Envelope.new(
        OrderPlaced(
            customer=events.Customer("Ada", "+1 555 0100"),
            delivery_address=events.DeliveryAddress("12 Harbour Road", "Charleston", "29401"),
            items=items,
            currency="EUR",
            total_amount=total,
            delivery_fee=Decimal("3.50"),
            grand_total=total + Decimal("3.50"),
        ),
        order_id=order_id or uuid.uuid4(),
        correlation_id=correlation_id or str(uuid.uuid4()),
        source="client",
    )


def status_changed(
    order_id: uuid.UUID, correlation_id: str, status: Status, sequence: int, *, source: str = "palmetto", **extra
) -> Envelope:
    if status == Status.OUT_FOR_DELIVERY:
        extra.setdefault("courier", "Rosa")
    if status == Status.REJECTED:
        extra.setdefault("reason", "out of dough")
    return Envelope.new(
        OrderStatusChanged(status=status, sequence=sequence, **extra),
        order_id=order_id,
        correlation_id=correlation_id,
        source=source,
    )


def place_order(*lines: tuple[str, int]):
    """A Client App order placed through its service (items, PLACED history entry, queued OrderPlaced)."""
    from django.contrib.auth.models import User

    from client_app.orders import services

    return services.order_place(
        customer_account=User.objects.create_user(f"customer-{uuid.uuid4().hex[:8]}"),
        correlation_id=str(uuid.uuid4()),
        customer=events.Customer("Ada", "+1 555 0100"),
        address=events.DeliveryAddress("12 Harbour Road", "Charleston", "29401"),
        lines=[services.LineRequest(item_id, quantity) for item_id, quantity in (lines or (("margherita-30", 1),))],
    ).order

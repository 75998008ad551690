"""A cash order: the courier learns the amount from READY_FOR_DELIVERY and announces CashCollected
right after DELIVERED, in the same transaction; a card order collects nothing."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from common.events import CashCollected, OrderStatusChanged, decode
from common.lifecycle import Status
from courier_app.delivery import services
from courier_app.delivery.declaration import SERVICE
from courier_app.delivery.models import Delivery, OutboxMessage
from tests.support.factories import status_changed

pytestmark = pytest.mark.django_db


def deliver(cash_due: Decimal | None) -> uuid.UUID:
    ready = status_changed(uuid.uuid4(), str(uuid.uuid4()), Status.READY_FOR_DELIVERY, 3, cash_due=cash_due)
    [subscription] = SERVICE.subscriptions
    subscription.handler_for(ready)(ready)
    services.deliveries_dispatch()
    services.deliveries_complete_due()
    return ready.order_id


def payloads(order_id: uuid.UUID) -> list:
    rows = OutboxMessage.objects.filter(order_id=order_id).order_by("id")
    return [decode(r.value.encode()).payload for r in rows]


def test_cash_is_collected_on_delivery_once():
    order_id = deliver(Decimal("25.50"))
    assert Delivery.objects.get(order_id=order_id).cash_due == Decimal("25.50")
    out = payloads(order_id)
    assert [type(p) for p in out] == [OrderStatusChanged, OrderStatusChanged, CashCollected]
    assert out[1].status == Status.DELIVERED
    assert out[2].amount == Decimal("25.50") and out[2].courier
    assert services.deliveries_complete_due() == 0  # nothing delivered, nothing collected twice


def test_a_paid_order_collects_nothing():
    order_id = deliver(None)
    assert [type(p) for p in payloads(order_id)] == [OrderStatusChanged, OrderStatusChanged]

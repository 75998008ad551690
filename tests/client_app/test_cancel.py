"""Cancellation: asked through the API, decided by the kitchen, recorded in the history."""

from __future__ import annotations

import uuid

import pytest
from django.utils import timezone

from client_app.orders.models import Order, OutboxMessage
from client_app.orders.services.tracking import order_cancellation_refused
from common.events import decode
from common.lifecycle import Status
from tests.support.api import place
from tests.support.factories import apply_status

pytestmark = pytest.mark.django_db


def events_of(order_id) -> list[str]:
    return [r.event_type for r in OutboxMessage.objects.filter(order_id=order_id).order_by("id")]


def test_cancel_asks_the_kitchen_once(alice):
    order_id = place(alice).json()["orderId"]
    response = alice.post(f"/api/orders/{order_id}/cancel/", {"reason": "ordered twice"}, format="json")
    assert response.status_code == 202
    assert response.json()["cancellation"] == {"state": "REQUESTED", "reason": "ordered twice"}
    assert response.json()["status"] == "PLACED"
    assert [h["kind"] for h in response.json()["history"]] == ["STATUS", "CANCELLATION_REQUESTED"]
    again = alice.post(f"/api/orders/{order_id}/cancel/")
    assert again.status_code == 202
    assert events_of(order_id) == ["OrderPlaced", "CancellationRequested"]
    row = OutboxMessage.objects.get(order_id=order_id, event_type="CancellationRequested")
    assert row.topic == "orders" and decode(row.value.encode()).payload.reason == "ordered twice"


def test_too_late_is_409(alice):
    order_id = place(alice).json()["orderId"]
    order = Order.objects.get(id=order_id)
    for seq, status in enumerate([Status.ACCEPTED, Status.PREPARING, Status.READY_FOR_DELIVERY], 1):
        apply_status(order.id, order.correlation_id, status, seq)
    response = alice.post(f"/api/orders/{order_id}/cancel/")
    assert response.status_code == 409
    assert response.json()["code"] == "too_late_to_cancel"
    assert events_of(order_id) == ["OrderPlaced"]


def test_kitchen_cancels_and_the_order_ends_cancelled(alice):
    order_id = place(alice).json()["orderId"]
    alice.post(f"/api/orders/{order_id}/cancel/")
    order = Order.objects.get(id=order_id)
    apply_status(order.id, order.correlation_id, Status.ACCEPTED, 1)
    apply_status(order.id, order.correlation_id, Status.CANCELLED, 2, reason="by customer")
    body = alice.get(f"/api/orders/{order_id}/").json()
    assert body["status"] == "CANCELLED" and body["cancellation"]["state"] == "CANCELLED"


def test_a_refusal_is_visible_in_the_history(alice):
    order_id = place(alice).json()["orderId"]
    alice.post(f"/api/orders/{order_id}/cancel/")
    order = Order.objects.get(id=order_id)
    for seq, status in enumerate([Status.ACCEPTED, Status.PREPARING, Status.READY_FOR_DELIVERY], 1):
        apply_status(order.id, order.correlation_id, status, seq)
    order_cancellation_refused(
        order_id=order.id, correlation_id=order.correlation_id, reason="too late: READY_FOR_DELIVERY",
        event_id=uuid.uuid4(), occurred_at=timezone.now(), source="palmetto",
    )
    body = alice.get(f"/api/orders/{order_id}/").json()
    assert body["status"] == "READY_FOR_DELIVERY"
    assert body["cancellation"]["state"] == "REFUSED"
    assert body["history"][-1]["kind"] == "CANCELLATION_REFUSED"
    assert body["history"][-1]["reason"] == "too late: READY_FOR_DELIVERY"

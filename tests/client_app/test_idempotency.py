"""Idempotency-Key: a retried POST returns the original order; the same key with another body is 422."""

from __future__ import annotations

import pytest

from client_app.orders.models import Order, OutboxMessage
from tests.support.api import order_body, place

pytestmark = pytest.mark.django_db


def test_same_key_same_body_returns_the_original_order_and_no_second_event(alice):
    first = place(alice, order_body(), HTTP_IDEMPOTENCY_KEY="checkout-1")
    second = place(alice, order_body(), HTTP_IDEMPOTENCY_KEY="checkout-1")
    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json()["orderId"] == first.json()["orderId"]
    assert second["X-Correlation-ID"] == first["X-Correlation-ID"]
    assert Order.objects.count() == 1 and OutboxMessage.objects.count() == 1


def test_same_key_different_body_is_422_and_writes_nothing(alice):
    assert place(alice, order_body(), HTTP_IDEMPOTENCY_KEY="checkout-2").status_code == 201
    other = place(alice, order_body(items=[{"itemId": "cola", "quantity": 1}]), HTTP_IDEMPOTENCY_KEY="checkout-2")
    assert other.status_code == 422
    assert other.json()["code"] == "idempotency_key_reused"
    assert Order.objects.count() == 1 and OutboxMessage.objects.count() == 1


def test_keys_belong_to_one_customer(alice, bob):
    a = place(alice, order_body(), HTTP_IDEMPOTENCY_KEY="shared")
    b = place(bob, order_body(), HTTP_IDEMPOTENCY_KEY="shared")
    assert (a.status_code, b.status_code) == (201, 201)
    assert a.json()["orderId"] != b.json()["orderId"]


def test_without_a_key_every_post_is_a_new_order(alice):
    place(alice)
    place(alice)
    assert Order.objects.count() == 2


def test_an_overlong_key_is_400(alice):
    response = place(alice, order_body(), HTTP_IDEMPOTENCY_KEY="k" * 101)
    assert response.status_code == 400 and "Idempotency-Key" in response.json()["errors"]

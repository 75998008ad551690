"""Who sees what: customers their own orders, staff everything, anonymous nothing but the menu."""

from __future__ import annotations

import pytest

from client_app.orders.models import Order
from tests.support.api import client_for, order_body, place

pytestmark = pytest.mark.django_db


def test_anonymous_requests_answer_401_with_the_error_shape(alice):
    order_id = place(alice).json()["orderId"]
    anonymous = client_for(None)
    for response in (
        anonymous.get("/api/orders/"),
        place(anonymous),
        anonymous.get(f"/api/orders/{order_id}/"),
        anonymous.post(f"/api/orders/{order_id}/cancel/"),
    ):
        assert response.status_code == 401
        assert response.json()["code"] == "not_authenticated"
        assert response["WWW-Authenticate"] == "Token"
    assert anonymous.get("/api/menu/").status_code == 200


def test_a_bad_token_is_401(alice):
    intruder = client_for(None)
    intruder.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    assert intruder.get("/api/orders/").status_code == 401


def test_customers_cannot_see_or_cancel_each_others_orders(alice, bob):
    alices = place(alice).json()["orderId"]
    bobs = place(bob).json()["orderId"]
    assert bob.get(f"/api/orders/{alices}/").status_code == 404
    assert bob.post(f"/api/orders/{alices}/cancel/").status_code == 404
    assert alice.get(f"/api/orders/{bobs}/").status_code == 404
    assert [o["orderId"] for o in bob.get("/api/orders/").json()["results"]] == [bobs]
    assert [o["orderId"] for o in alice.get("/api/orders/").json()["results"]] == [alices]
    assert Order.objects.get(id=alices).cancellation == ""


def test_staff_see_every_order(alice, bob, staff):
    ids = {place(alice).json()["orderId"], place(bob).json()["orderId"]}
    assert {o["orderId"] for o in staff.get("/api/orders/").json()["results"]} == ids
    for order_id in ids:
        assert staff.get(f"/api/orders/{order_id}/").status_code == 200


def test_the_order_belongs_to_the_authenticated_customer(alice):
    created = place(alice, order_body(customerId="someone-else")).json()
    order = Order.objects.get(id=created["orderId"])
    assert created["customerId"] == str(order.customer_id) and order.customer.username == "alice"


def test_server_side_fields_cannot_be_assigned_by_the_client(alice):
    body = order_body(status="DELIVERED", correlationId="chosen", totalAmount=None, grandTotal="0.01",
                      deliveryFee="0.00", orderId="00000000-0000-0000-0000-000000000000")
    body.pop("totalAmount")
    created = place(alice, body).json()
    assert created["status"] == "PLACED"
    assert created["correlationId"] != "chosen"
    assert created["orderId"] != "00000000-0000-0000-0000-000000000000"
    assert (created["deliveryFee"], created["grandTotal"]) == ("3.50", "25.50")


def test_list_is_paginated_and_filtered_by_status(alice):
    ids = [place(alice).json()["orderId"] for _ in range(22)]
    Order.objects.filter(id=ids[0]).update(status="DELIVERED")
    first = alice.get("/api/orders/").json()
    assert first["count"] == 22 and len(first["results"]) == 20 and first["next"]
    assert len(alice.get(first["next"]).json()["results"]) == 2
    delivered = alice.get("/api/orders/?status=DELIVERED").json()
    assert [o["orderId"] for o in delivered["results"]] == [ids[0]]
    bad = alice.get("/api/orders/?status=EATEN")
    assert bad.status_code == 400 and "status" in bad.json()["errors"]
    assert alice.get("/api/orders/?page=99").status_code == 404


def test_register_and_token_endpoints(db):
    anonymous = client_for(None)
    registered = anonymous.post(
        "/api/auth/register/", {"username": "carol", "password": "pizza-lover-2026"}, format="json"
    )
    assert registered.status_code == 201
    token = anonymous.post("/api/auth/token/", {"username": "carol", "password": "pizza-lover-2026"}, format="json")
    assert token.status_code == 200 and token.json()["token"] == registered.json()["token"]
    again = anonymous.post("/api/auth/register/", {"username": "carol", "password": "pizza-lover-2026"}, format="json")
    assert again.status_code == 409 and again.json()["code"] == "username_taken"
    numeric = anonymous.post("/api/auth/register/", {"username": "dave", "password": "12345678"}, format="json")
    assert numeric.status_code == 400 and "password" in numeric.json()["errors"]  # the schema's pattern says so
    weak = anonymous.post("/api/auth/register/", {"username": "dave", "password": "password1"}, format="json")
    assert weak.status_code == 422 and weak.json()["code"] == "password_rejected"
    assert "password" in weak.json()["errors"]
    short = anonymous.post("/api/auth/register/", {"username": "dave", "password": "short"}, format="json")
    assert short.status_code == 400 and "password" in short.json()["errors"]
    wrong = anonymous.post("/api/auth/token/", {"username": "carol", "password": "nope"}, format="json")
    assert wrong.status_code == 401 and wrong.json()["code"] == "invalid_credentials"
    assert wrong["WWW-Authenticate"] == "Token"
    unknown = anonymous.post("/api/auth/token/", {"username": "nobody", "password": "nope"}, format="json")
    assert unknown.status_code == 401 and unknown.json()["message"] == wrong.json()["message"]


def test_a_customer_can_revoke_their_token(db):
    anonymous = client_for(None)
    credentials = {"username": "erin", "password": "pizza-lover-2026"}
    first = anonymous.post("/api/auth/register/", credentials, format="json").json()["token"]
    customer = client_for(None)
    customer.credentials(HTTP_AUTHORIZATION=f"Token {first}")
    assert customer.get("/api/orders/").status_code == 200
    assert customer.delete("/api/auth/token/").status_code == 204
    assert customer.get("/api/orders/").status_code == 401
    assert anonymous.delete("/api/auth/token/").status_code == 401
    second = anonymous.post("/api/auth/token/", credentials, format="json").json()["token"]
    assert second != first


def test_password_guessing_is_throttled_per_username_from_any_address(db, monkeypatch):
    from client_app.orders.api.throttles import AuthAddressThrottle, AuthUsernameThrottle

    monkeypatch.setattr(AuthUsernameThrottle, "THROTTLE_RATES", {"auth_username": "3/hour"})
    monkeypatch.setattr(AuthAddressThrottle, "THROTTLE_RATES", {"auth_address": "1000/minute"})
    anonymous = client_for(None)
    credentials = {"username": "frank", "password": "pizza-lover-2026"}
    assert anonymous.post("/api/auth/register/", credentials, format="json").status_code == 201
    # Successful logins do not count.
    for _ in range(5):
        assert anonymous.post("/api/auth/token/", credentials, format="json").status_code == 200
    guesses = [
        anonymous.post(
            "/api/auth/token/", {"username": "frank", "password": f"guess-{i}"}, format="json",
            REMOTE_ADDR=f"10.0.0.{i}",
        ).status_code
        for i in range(5)
    ]  # fmt: skip
    assert guesses == [401, 401, 401, 429, 429]
    limited = anonymous.post("/api/auth/token/", credentials, format="json")
    assert limited.status_code == 429 and limited.json()["code"] == "throttled" and limited["Retry-After"]
    # Another account is not affected.
    assert anonymous.post("/api/auth/token/", {"username": "grace", "password": "x"}, format="json").status_code == 401


def test_logins_and_registrations_are_throttled_per_address(db, monkeypatch):
    from client_app.orders.api.throttles import AuthAddressThrottle

    monkeypatch.setattr(AuthAddressThrottle, "THROTTLE_RATES", {"auth_address": "4/minute"})
    anonymous = client_for(None)
    codes = [
        anonymous.post("/api/auth/token/", {"username": f"u{i}", "password": "x"}, format="json").status_code
        for i in range(3)
    ]
    codes.append(
        anonymous.post("/api/auth/register/", {"username": "heidi", "password": "pizza-lover-2026"}, format="json")
        .status_code
    )
    codes.append(anonymous.post("/api/auth/token/", {"username": "heidi", "password": "x"}, format="json").status_code)
    assert codes == [401, 401, 401, 201, 429]
    other = anonymous.post(
        "/api/auth/token/", {"username": "u9", "password": "x"}, format="json", REMOTE_ADDR="10.1.1.1"
    )
    assert other.status_code == 401


def test_throttle_counts_live_in_the_shared_database_cache(db):
    from django.conf import settings
    from django.core.cache import cache, caches
    from django.db import connection

    from common.cache import UpsertDatabaseCache

    assert isinstance(caches["default"], UpsertDatabaseCache)  # Django's database cache, with one-statement writes
    cache.set("palmetto-probe", 1, 60)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {settings.CACHES['default']['LOCATION']}")
        assert cursor.fetchone()[0] >= 1


def test_placing_orders_is_throttled_per_customer(alice, bob, monkeypatch):
    from client_app.orders.api.orders import OrderCreateThrottle

    monkeypatch.setattr(OrderCreateThrottle, "THROTTLE_RATES", {"order_create": "3/minute"})
    assert [place(alice).status_code for _ in range(4)] == [201, 201, 201, 429]
    limited = place(alice)
    assert limited.json()["code"] == "throttled" and limited["Retry-After"]
    assert alice.get("/api/orders/").status_code == 200  # reading is not limited
    assert place(bob).status_code == 201  # per customer

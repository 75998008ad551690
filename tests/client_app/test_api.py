"""The orders API: placing, reading, validation, correlation IDs and the error shape."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from client_app.orders.models import Order, OrderStatusChange, OutboxMessage
from common.events import decode
from tests.support.api import order_body, place

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(alice) -> APIClient:
    """A customer's authenticated client."""
    return alice


def test_place_order_answers_201_with_id_correlation_id_status_and_location(api):
    response = place(api, order_body())
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["status"] == "PLACED"
    order = Order.objects.get(id=data["orderId"])
    assert data["correlationId"] == order.correlation_id == response["X-Correlation-ID"]
    assert response["Location"].endswith(f"/api/orders/{order.id}/")
    # Prices come from the menu: 2 x 8.50 + 5.00, plus the flat delivery fee below 40.00.
    assert (data["totalAmount"], data["deliveryFee"], data["grandTotal"]) == ("22.00", "3.50", "25.50")
    assert [h["status"] for h in data["history"]] == ["PLACED"]


def test_placing_writes_the_order_and_its_event_in_one_transaction(api):
    response = place(api, order_body())
    order_id = response.json()["orderId"]
    [row] = OutboxMessage.objects.filter(order_id=order_id)
    assert row.sent_at is None and row.topic == "orders"
    envelope = decode(row.value.encode(), [(k, v.encode()) for k, v in row.headers])
    assert envelope.event_type == "OrderPlaced"
    assert envelope.correlation_id == response["X-Correlation-ID"]
    assert envelope.payload.grand_total == Decimal("25.50")
    assert [(line.item_id, line.quantity) for line in envelope.payload.items] == [("margherita-30", 2), ("tiramisu", 1)]


def test_correlation_id_header_is_used_for_the_order(api):
    response = place(api, order_body(), HTTP_X_CORRELATION_ID="shop-42.a")
    assert response.status_code == 201
    assert response["X-Correlation-ID"] == "shop-42.a"
    assert Order.objects.get(id=response.json()["orderId"]).correlation_id == "shop-42.a"


def test_correlation_id_of_another_order_is_a_conflict(api):
    assert place(api, order_body(), HTTP_X_CORRELATION_ID="dup-1").status_code == 201
    response = place(api, order_body(), HTTP_X_CORRELATION_ID="dup-1")
    assert response.status_code == 409
    assert response.json()["code"] == "correlation_id_in_use"
    assert Order.objects.count() == 1 and OutboxMessage.objects.count() == 1


def test_malformed_correlation_id_is_refused(api):
    response = place(api, order_body(), HTTP_X_CORRELATION_ID="no spaces please")
    assert response.status_code == 400
    assert response.json()["errors"] == {"X-Correlation-ID": ["invalid format"]}
    assert Order.objects.count() == 0


def test_free_delivery_from_forty(api):
    response = place(api, order_body(items=[{"itemId": "quattro-formaggi-40", "quantity": 3}]))
    assert response.json()["deliveryFee"] == "0.00"
    assert response.json()["grandTotal"] == "45.00"


def test_get_returns_items_totals_status_and_history(api):
    created = place(api, order_body()).json()
    response = api.get(f"/api/orders/{created['orderId']}/")
    assert response.status_code == 200
    data = response.json()
    assert data["items"][0] == {
        "itemId": "margherita-30",
        "name": "Margherita 30 cm",
        "quantity": 2,
        "price": "8.50",
        "lineTotal": "17.00",
    }
    assert data["history"][0]["status"] == "PLACED" and data["history"][0]["occurredAt"]
    # No header given: the answer carries the order's own correlation ID.
    assert response["X-Correlation-ID"] == created["correlationId"]


def test_get_echoes_a_given_correlation_id(api):
    created = place(api, order_body()).json()
    response = api.get(f"/api/orders/{created['orderId']}/", HTTP_X_CORRELATION_ID="trace-7")
    assert response["X-Correlation-ID"] == "trace-7"


def test_unknown_order_is_404_json(api):
    response = api.get(f"/api/orders/{uuid.uuid4()}/")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert api.get("/api/orders/not-a-uuid/").json()["status"] == 404


INVALID = {
    "no items": (order_body(items=[]), "items"),
    "zero quantity": (order_body(items=[{"itemId": "tiramisu", "quantity": 0}]), "items[0].quantity"),
    "negative quantity": (order_body(items=[{"itemId": "tiramisu", "quantity": -3}]), "items[0].quantity"),
    "fractional quantity": (order_body(items=[{"itemId": "tiramisu", "quantity": 1.5}]), "items[0].quantity"),
    "absurd quantity": (order_body(items=[{"itemId": "tiramisu", "quantity": 10_000}]), "items[0].quantity"),
    "duplicate line": (
        order_body(items=[{"itemId": "cola", "quantity": 1}, {"itemId": "cola", "quantity": 1}]),
        "items[1].itemId",
    ),
    "missing customer": ({k: v for k, v in order_body().items() if k != "customer"}, "customer"),
    "blank name": (order_body(customer={"name": " ", "phone": "+1 555 0100"}), "customer.name"),
    "bad phone": (order_body(customer={"name": "Ada", "phone": "call me"}), "customer.phone"),
    "bad postal code": (
        order_body(deliveryAddress={"street": "x", "city": "y", "postalCode": "!!"}),
        "deliveryAddress.postalCode",
    ),
    "address not an object": (order_body(deliveryAddress="12 Harbour Road"), "deliveryAddress"),
    "huge street": (
        order_body(deliveryAddress={"street": "x" * 5000, "city": "y", "postalCode": "29401"}),
        "deliveryAddress.street",
    ),
}


@pytest.mark.parametrize("body,field", INVALID.values(), ids=INVALID.keys())
def test_invalid_orders_get_400_naming_the_field_and_write_nothing(api, body, field):
    response = place(api, body)
    assert response.status_code == 400, response.content
    data = response.json()
    assert data["status"] == 400 and data["code"] == "invalid"
    assert field in data["errors"], data
    assert field in data["message"] or data["message"]
    assert Order.objects.count() == 0 and OutboxMessage.objects.count() == 0


CONFLICTS = {
    "unknown item": (order_body(items=[{"itemId": "pineapple-pizza", "quantity": 1}]), "items[0].itemId"),
    "tampered price": (
        order_body(items=[{"itemId": "margherita-30", "quantity": 1, "price": "0.01"}]),
        "items[0].price",
    ),
    "tampered total": (order_body(totalAmount="1.00"), "totalAmount"),
    "wrong currency": (order_body(currency="USD"), "currency"),
}


@pytest.mark.parametrize("body,field", CONFLICTS.values(), ids=CONFLICTS.keys())
def test_orders_that_disagree_with_the_menu_get_409_naming_the_field_and_write_nothing(api, body, field):
    response = place(api, body)
    assert response.status_code == 409, response.content
    data = response.json()
    assert data["code"] == "conflicts_with_menu" and field in data["errors"], data
    assert Order.objects.count() == 0 and OutboxMessage.objects.count() == 0


def test_amounts_must_be_decimal_strings(api):
    for amount in (12.5, "-1.00", "1.234", ""):
        response = place(api, order_body(totalAmount=amount))
        assert response.status_code == 400 and "totalAmount" in response.json()["errors"], amount


def test_bodies_other_than_json_are_415(api):
    response = api.post("/api/orders/", data="customer=ada", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415 and response.json()["code"] == "unsupported_media_type"


def test_an_empty_status_filter_is_400(api):
    response = api.get("/api/orders/?status=")
    assert response.status_code == 400 and "status" in response.json()["errors"]


def test_malformed_json_is_400(api):
    response = api.post("/api/orders/", data="{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"


def test_status_in_the_body_is_ignored(api):
    response = place(api, order_body(status="DELIVERED"))
    assert response.json()["status"] == "PLACED"
    assert OrderStatusChange.objects.get().status == "PLACED"


def test_menu_lists_priced_items():
    menu = APIClient().get("/api/menu/").json()
    assert {
        "itemId": "margherita-30",
        "name": "Margherita",
        "category": "pizza",
        "size": "30 cm",
        "description": "Tomato, fior di latte, basil",
        "price": "8.50",
    } in menu
    assert len(menu) == 23


def test_schema_and_swagger_ui_are_served_without_login():
    anonymous = APIClient()
    schema = anonymous.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    document = json.loads(schema.content)
    assert {
        "/api/orders/",
        "/api/orders/{order_id}/",
        "/api/orders/{order_id}/cancel/",
        "/api/menu/",
        "/api/auth/register/",
        "/api/auth/token/",
        "/api/topics/{topic}/order-ids/",
    } <= set(document["paths"])
    create = document["paths"]["/api/orders/"]["post"]
    assert {"201", "400", "401", "409", "422", "429", "503"} <= set(create["responses"])
    assert create["responses"]["422"]["content"]["application/json"]["schema"]["$ref"] == "#/components/schemas/Error"
    assert {"tokenAuth", "cookieAuth"} <= set(document["components"]["securitySchemes"])
    for path in ("/api/auth/token/", "/api/auth/register/", "/api/orders/"):
        limited = document["paths"][path]["post"]["responses"]["429"]
        assert limited["headers"]["Retry-After"]["required"], path
    correlation_header = document["paths"]["/api/menu/"]["get"]["parameters"][0]
    assert correlation_header["name"] == "X-Correlation-ID" and correlation_header["schema"]["pattern"]
    assert "delete" in document["paths"]["/api/auth/token/"]
    assert anonymous.get("/api/docs/").status_code == 200


def test_the_shared_order_serializer_answers_as_a_fresh_one_in_every_thread(api):
    from concurrent.futures import ThreadPoolExecutor

    from client_app.orders import selectors
    from client_app.orders.api.serializers import OrderOut, order_out

    ids = [place(api, order_body(items=[{"itemId": "tiramisu", "quantity": n}])).json()["orderId"] for n in (1, 2, 3)]
    orders = [selectors.order_get(uuid.UUID(i)) for i in ids]
    orders[1].payment.delete()  # an order placed before payments existed: payment null
    orders[1] = selectors.order_get(orders[1].id)
    expected = [OrderOut(order).data for order in orders]
    assert expected[1]["payment"] is None and [e["items"][0]["quantity"] for e in expected] == [1, 2, 3]
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda i: order_out(orders[i % 3]), range(60)))
    assert answers == [expected[i % 3] for i in range(60)]
    assert isinstance(answers[0].serializer, OrderOut) and answers[0].serializer.instance is orders[0]


@pytest.mark.parametrize(
    "body",
    [
        order_body(),
        order_body(currency="EUR", totalAmount="22.00", payment={"method": "card", "amount": "25.50"},
                   items=[{"itemId": "tiramisu", "quantity": 2, "price": "5.00"}]),
        None,
        [],
        "text",
        {},
        order_body(items=[]),
        order_body(items=[{"itemId": "tiramisu", "quantity": 0, "price": 5}, {"quantity": 1}]),
        order_body(customer={"name": "", "phone": "call me"}, payment={"method": "cheque"}, totalAmount="1.001"),
    ],
)
def test_the_shared_order_validator_answers_as_a_fresh_serializer(body):
    from rest_framework.exceptions import ValidationError

    from client_app.orders.api.serializers import OrderCreateIn, order_create_in

    fresh = OrderCreateIn(data=body)
    if fresh.is_valid():
        assert order_create_in(body) == fresh.validated_data
    else:
        with pytest.raises(ValidationError) as refused:
            order_create_in(body)
        assert refused.value.detail == fresh.errors and refused.value.detail


def test_placing_an_order_takes_few_database_round_trips(api, django_assert_max_num_queries):
    place(api, order_body())  # warm: the first request of a client may load more (sessions, content types)
    # Token; the order throttle in the shared database cache (read, and a one-statement write in a savepoint
    # pair here: 4; no savepoint outside a transaction, see common/cache.py); begin, menu, order, items,
    # payment, event, history, commit (a savepoint pair inside the test's transaction). The answer is built
    # from what was written, not read back.
    with django_assert_max_num_queries(13):
        response = place(api, order_body())
    assert response.status_code == 201
    body = response.json()
    assert [line["itemId"] for line in body["items"]] == ["margherita-30", "tiramisu"]
    assert [h["status"] for h in body["history"]] == ["PLACED"]

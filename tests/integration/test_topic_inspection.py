"""GET /api/topics/{topic}/order-ids/ against the real broker: ids in first-seen order, nothing committed."""

from __future__ import annotations

import time

import pytest
from django.contrib.auth.models import User

from common.devstack.kafka_tools import produce_raw
from common.devstack.ports import free_port
from common.events import encode
from common.lifecycle import Status
from common.topics import NOTIFICATIONS, ORDERS
from tests.support.api import client_for
from tests.support.config import configure
from tests.support.factories import order_placed, status_changed

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


@pytest.fixture
def staff(db):
    return client_for(User.objects.create_user("oscar", is_staff=True))


def test_lists_order_ids_in_the_order_first_seen_with_counts(staff, kafka_bootstrap, kafka_topics):
    first, second = order_placed(), order_placed()
    for envelope in (first, second):
        key, value, headers = encode(envelope)
        produce_raw(kafka_bootstrap, ORDERS.full_name(kafka_topics), value, key=key, headers=headers)
        time.sleep(0.01)  # distinct timestamps, so "first seen" is unambiguous across partitions
    for seq, status in enumerate([Status.ACCEPTED, Status.PREPARING], 1):
        key, value, headers = encode(status_changed(first.order_id, first.correlation_id, status, seq))
        produce_raw(kafka_bootstrap, NOTIFICATIONS.full_name(kafka_topics), value, key=key, headers=headers)
    produce_raw(kafka_bootstrap, ORDERS.full_name(kafka_topics), b"garbage", key=b"x")

    orders = staff.get("/api/topics/orders/order-ids/").json()
    assert orders["topic"] == ORDERS.full_name(kafka_topics)
    assert orders["orderIds"] == [
        {"orderId": str(first.order_id), "count": 1},
        {"orderId": str(second.order_id), "count": 1},
    ]
    assert (orders["messages"], orders["undecodable"], orders["complete"]) == (3, 1, True)
    notifications = staff.get("/api/topics/notifications/order-ids/").json()
    assert notifications["orderIds"] == [{"orderId": str(first.order_id), "count": 2}]
    empty = staff.get("/api/topics/orders.DLT/order-ids/").json()
    assert (empty["messages"], empty["orderIds"]) == (0, [])


def test_unknown_topic_is_404_and_customers_are_403(staff, kafka_topics):
    response = staff.get("/api/topics/payments/order-ids/")
    assert response.status_code == 404 and response.json()["code"] == "not_found"
    customer = client_for(User.objects.create_user("ada"))
    assert customer.get("/api/topics/orders/order-ids/").status_code == 403


def test_unreachable_broker_is_503_within_seconds(staff, settings):
    configure(settings, kafka_bootstrap_servers=f"127.0.0.1:{free_port()}")  # nothing listens there
    started = time.monotonic()
    response = staff.get("/api/topics/orders/order-ids/")
    elapsed = time.monotonic() - started
    assert response.status_code == 503
    assert response.json()["code"] == "broker_unavailable"
    assert elapsed < 10, f"took {elapsed:.1f}s"

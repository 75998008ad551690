"""Fifty orders through the real HTTP API, three runconsumers processes and the real broker."""

from __future__ import annotations

import json
import uuid

import pytest

from common.devstack.kafka_tools import committed_offsets, end_offsets, read_all, wait_for
from common.devstack.platform import order_request
from common.kafka.admin import describe_partitions
from common.topics import NOTIFICATIONS, ORDERS, all_topic_names, consumer_group

pytestmark = pytest.mark.e2e

LIFECYCLE = ["PLACED", "ACCEPTED", "PREPARING", "READY_FOR_DELIVERY", "OUT_FOR_DELIVERY", "DELIVERED"]
ORDERS_COUNT = 50
# Each service's group and the topics it consumes (the client also reads orders back: the payment step).
GROUPS = [("client", NOTIFICATIONS), ("client", ORDERS), ("palmetto", ORDERS), ("courier", NOTIFICATIONS)]


def test_fifty_orders_are_delivered_with_complete_ordered_histories(platform):
    http = platform.session()
    menu = http.get(f"{platform.api}/api/menu/", timeout=10).json()
    placed: dict[str, str] = {}
    for i in range(ORDERS_COUNT):
        headers = {"X-Correlation-ID": f"e2e-{i}-{uuid.uuid4().hex[:6]}"} if i % 5 == 0 else {}
        response = http.post(f"{platform.api}/api/orders/", json=order_request(i, menu), headers=headers, timeout=10)
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["status"] == "PLACED" and response.headers["Location"].endswith(f"/api/orders/{body['orderId']}/")
        assert response.headers["X-Correlation-ID"] == body["correlationId"]
        if headers:
            assert body["correlationId"] == headers["X-Correlation-ID"]
        placed[body["orderId"]] = body["correlationId"]

    def all_delivered():
        pending = [
            oid
            for oid in placed
            if http.get(f"{platform.api}/api/orders/{oid}/", timeout=10).json()["status"] != "DELIVERED"
        ]
        return not pending

    wait_for(all_delivered, timeout=180, interval=1, what=f"all {ORDERS_COUNT} orders DELIVERED")

    for order_id, correlation_id in placed.items():
        order = http.get(f"{platform.api}/api/orders/{order_id}/", timeout=10).json()
        # Cash on delivery (no payment given): the courier's collection follows DELIVERED.
        assert [h["kind"] for h in order["history"]].count("CASH_COLLECTED") <= 1
        history = [h for h in order["history"] if h["kind"] == "STATUS"]
        assert [h["status"] for h in history] == LIFECYCLE, order_id
        assert [h["sequence"] for h in history] == list(range(6))
        assert [h["source"] for h in history] == ["client", "palmetto", "palmetto", "palmetto", "courier", "courier"]
        times = [h["occurredAt"] for h in history]
        assert times == sorted(times), f"history of {order_id} is out of time order"
        assert history[4]["courier"], "OUT_FOR_DELIVERY names the courier"
        assert order["correlationId"] == correlation_id

    # Too late to cancel a delivered order.
    late = http.post(f"{platform.api}/api/orders/{order_id}/cancel/", timeout=10)
    assert late.status_code == 409 and late.json()["code"] == "too_late_to_cancel"

    # Staff can list the order ids on each topic, without committing anything.
    staff = platform.session(staff=True)
    on_orders = staff.get(f"{platform.api}/api/topics/orders/order-ids/", timeout=30).json()
    assert on_orders["complete"] and on_orders["messages"] == ORDERS_COUNT and on_orders["undecodable"] == 0
    assert {o["orderId"] for o in on_orders["orderIds"]} == set(placed)
    assert {o["count"] for o in on_orders["orderIds"]} == {1}
    on_notifications = staff.get(f"{platform.api}/api/topics/notifications/order-ids/", timeout=30).json()
    # Five status changes and the courier's CashCollected per order.
    assert {o["orderId"]: o["count"] for o in on_notifications["orderIds"]} == {oid: 6 for oid in placed}

    # Every topic exists with exactly three partitions.
    counts = describe_partitions(platform.bootstrap, all_topic_names(platform.prefix))
    assert set(counts.values()) == {3}

    # The orders were spread over all three partitions, each order's events in one partition.
    order_records = read_all(platform.bootstrap, ORDERS.full_name(platform.prefix))
    assert len(order_records) == ORDERS_COUNT
    assert {r.partition for r in order_records} == {0, 1, 2}
    partition_of = {r.key.decode(): r.partition for r in order_records}
    for record in read_all(platform.bootstrap, NOTIFICATIONS.full_name(platform.prefix)):
        assert record.partition == partition_of[record.key.decode()], "an order's events left its partition"

    # Each service's group committed every partition up to its end.
    for service, topic in GROUPS:
        name = topic.full_name(platform.prefix)
        group = consumer_group(platform.prefix, service)
        ends = end_offsets(platform.bootstrap, name)
        wait_for(
            lambda group=group, name=name, ends=ends: committed_offsets(platform.bootstrap, group, name) == ends,
            timeout=30,
            what=f"{group} committed {name} to its end {ends}",
        )
        assert all(end > 0 for end in ends.values())

    # Nothing was dead-lettered.
    for topic in (ORDERS, NOTIFICATIONS):
        assert read_all(platform.bootstrap, topic.dlt_name(platform.prefix), timeout=2) == []

    # One correlation ID tells the order's story in all three services' logs.
    sample = next(iter(placed.values()))
    for service in ("client", "palmetto", "courier"):
        assert f"[cid={sample}]" in platform.log(service), f"{service} logged nothing under {sample}"

    # SIGTERM: every runconsumers finishes, commits, closes and exits 0.
    codes = platform.stop_consumers()
    assert codes == {"client": 0, "palmetto": 0, "courier": 0}
    for service in ("client", "palmetto", "courier"):
        assert f"{service}: stopped cleanly" in platform.log(service)
    for service, topic in GROUPS:
        name = topic.full_name(platform.prefix)
        assert committed_offsets(platform.bootstrap, consumer_group(platform.prefix, service), name) == end_offsets(
            platform.bootstrap, name
        )


@pytest.mark.parametrize("platform", [{"PALMETTO_KITCHEN_PREPARE_SECONDS": "600"}], indirect=True)
def test_a_cancellation_before_the_food_is_ready_ends_cancelled_and_never_reaches_a_courier(platform):
    http = platform.session()
    menu = http.get(f"{platform.api}/api/menu/", timeout=10).json()
    order_id = http.post(f"{platform.api}/api/orders/", json=order_request(1, menu), timeout=10).json()["orderId"]
    url = f"{platform.api}/api/orders/{order_id}/"
    wait_for(lambda: http.get(url, timeout=10).json()["status"] == "PREPARING", timeout=60, what="PREPARING")
    response = http.post(f"{url}cancel/", json={"reason": "plans changed"}, timeout=10)
    assert response.status_code == 202 and response.json()["cancellation"]["state"] == "REQUESTED"
    order = wait_for(
        lambda: (o := http.get(url, timeout=10).json())["status"] == "CANCELLED" and o, timeout=60, what="CANCELLED"
    )
    assert order["cancellation"]["state"] == "CANCELLED"
    assert [(h["kind"], h["status"]) for h in order["history"]] == [
        ("STATUS", "PLACED"),
        ("STATUS", "ACCEPTED"),
        ("STATUS", "PREPARING"),
        ("CANCELLATION_REQUESTED", "PREPARING"),
        ("STATUS", "CANCELLED"),
    ]
    statuses = [
        json.loads(r.value)["payload"].get("status")
        for r in read_all(platform.bootstrap, NOTIFICATIONS.full_name(platform.prefix))
    ]
    assert statuses == ["ACCEPTED", "PREPARING", "CANCELLED"]

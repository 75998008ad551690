"""Couriers act only on READY_FOR_DELIVERY, wait when nobody is free, and deliver on a durable timer."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from common.config import Timings
from common.events import decode
from common.lifecycle import Status
from courier_app.delivery import services
from courier_app.delivery.declaration import SERVICE
from courier_app.delivery.models import Courier, Delivery, OutboxMessage
from courier_app.delivery.selectors import deliveries_next_due
from tests.support.factories import status_changed

pytestmark = pytest.mark.django_db


def ready(sequence: int = 3) -> dict:
    """What the declaration hands ``delivery_open`` for a READY_FOR_DELIVERY event."""
    return {"order_id": uuid.uuid4(), "correlation_id": str(uuid.uuid4()), "ready_sequence": sequence,
            "ready_at": timezone.now()}


def published(order_id) -> list[tuple[str, int, str | None]]:
    rows = OutboxMessage.objects.filter(order_id=order_id).order_by("id")
    return [(p.status.value, p.sequence, p.courier) for p in (decode(r.value.encode()).payload for r in rows)]


def test_only_ready_for_delivery_is_wanted():
    [subscription] = SERVICE.subscriptions
    oid, cid = uuid.uuid4(), "c"
    assert subscription.wants(status_changed(oid, cid, Status.READY_FOR_DELIVERY, 3))
    for status, seq in [(Status.ACCEPTED, 1), (Status.PREPARING, 2), (Status.REJECTED, 1), (Status.CANCELLED, 2)]:
        assert not subscription.wants(status_changed(oid, cid, status, seq))
    # Its own events come back on the same topic and must be ignored.
    assert not subscription.wants(status_changed(oid, cid, Status.OUT_FOR_DELIVERY, 4, source="courier"))
    assert not subscription.wants(status_changed(oid, cid, Status.DELIVERED, 5, source="courier"))


def test_ready_order_is_dispatched_then_delivered():
    envelope = ready()
    services.delivery_open(**envelope)
    assert services.deliveries_dispatch() == 1
    delivery = Delivery.objects.get()
    assert delivery.stage == Delivery.Stage.OUT_FOR_DELIVERY and delivery.courier.busy
    assert services.deliveries_complete_due() == 1
    delivery.refresh_from_db()
    assert delivery.stage == Delivery.Stage.DELIVERED and not delivery.courier.busy
    name = delivery.courier.name
    assert published(envelope["order_id"]) == [("OUT_FOR_DELIVERY", 4, name), ("DELIVERED", 5, None)]


def test_orders_wait_when_no_courier_is_free():
    Courier.objects.exclude(name="Rosa").update(active=False)
    first, second = ready(), ready()
    services.delivery_open(**first)
    services.delivery_open(**second)
    assert services.deliveries_dispatch() == 1
    assert services.deliveries_dispatch() == 0
    assert Delivery.objects.get(order_id=second["order_id"]).stage == Delivery.Stage.WAITING
    assert services.deliveries_complete_due() == 1  # Rosa is back
    assert services.deliveries_dispatch() == 1
    assert Delivery.objects.get(order_id=second["order_id"]).courier.name == "Rosa"


def test_a_republished_ready_changes_nothing():
    envelope = ready()
    assert services.delivery_open(**envelope) is not None
    assert services.delivery_open(**envelope) is None
    assert Delivery.objects.count() == 1


def test_dispatching_and_delivering_many_takes_a_few_round_trips(django_assert_num_queries):
    orders = [ready() for _ in range(3)]
    for order in orders:
        services.delivery_open(**order)
    free = Courier.objects.filter(active=True, busy=False).count()
    Courier.objects.bulk_create(Courier(name=f"Extra {i}") for i in range(max(0, 3 - free)))
    # Inside each tick's savepoint: one statement pairs and moves orders and couriers, one inserts the events.
    with django_assert_num_queries(2 + 2):
        assert services.deliveries_dispatch() == 3
    with django_assert_num_queries(2 + 2):
        assert services.deliveries_complete_due() == 3
    for order in orders:
        assert [status for status, _, _ in published(order["order_id"])] == ["OUT_FOR_DELIVERY", "DELIVERED"]
    assert not Courier.objects.filter(busy=True).exists()


def test_a_round_reads_only_the_deliveries_in_flight(settings):
    """However many deliveries were made before, a round finds the waiting and the travelling ones
    through the in-flight indexes, also under a prepared statement's generic plan (which cannot use
    a partial index when the stage is a parameter): no sequential scan of the deliveries."""
    settings.PALMETTO_CONFIG = dataclasses.replace(settings.PALMETTO_CONFIG, timings=Timings(0, 0, 60))
    history = [Delivery(order_id=uuid.uuid4(), correlation_id="old", stage=Delivery.Stage.DELIVERED, sequence=5,
                        ready_at=timezone.now(), delivered_at=timezone.now()) for _ in range(200)]
    Delivery.objects.bulk_create(history)
    first, second = ready(), ready()
    services.delivery_open(**first)
    services.delivery_open(**second)
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        cursor.execute("SET LOCAL enable_seqscan = off")  # still taken where no index can serve

    def scans() -> tuple[int, int]:
        with connection.cursor() as cursor:
            cursor.execute("SELECT seq_scan, idx_scan FROM pg_stat_xact_user_tables WHERE relname = %s",
                           [Delivery._meta.db_table])
            return cursor.fetchone()

    before = scans()
    assert services.deliveries_dispatch() == 2
    assert deliveries_next_due() > 0
    Delivery.objects.filter(order_id=first["order_id"]).update(due_at=timezone.now() - timedelta(seconds=1))
    assert services.deliveries_complete_due() == 1
    seq_scans, index_scans = (after - then for after, then in zip(scans(), before, strict=True))
    assert seq_scans == 0 and index_scans > 0


def test_a_tick_keeps_couriers_going_while_travel_takes_no_time():
    free = Courier.objects.filter(active=True, busy=False).count()
    orders = [ready() for _ in range(free * 3 + 1)]  # more orders than couriers: each courier goes out thrice
    for order in orders:
        services.delivery_open(**order)
    # Timings are zero in tests: a courier is back as soon as it leaves, so one tick delivers everything.
    assert services.deliveries_advance_due() == 2 * len(orders)
    assert services.deliveries_advance_due() == 0
    delivered = Delivery.objects.filter(stage=Delivery.Stage.DELIVERED)
    assert delivered.count() == len(orders) and not delivered.filter(due_at__isnull=False).exists()
    assert all(d.sequence == 5 and d.delivered_at and d.picked_up_at and d.courier_id for d in delivered)
    for order in orders:
        assert [status for status, _, _ in published(order["order_id"])] == ["OUT_FOR_DELIVERY", "DELIVERED"]
    assert not Courier.objects.filter(busy=True).exists()


def test_a_tick_moves_at_most_its_limit():
    for _ in range(3):
        services.delivery_open(**ready())
    assert services.deliveries_advance_due(limit=4) == 4  # three out, one delivered
    assert Delivery.objects.filter(stage=Delivery.Stage.DELIVERED).count() == 1


def test_with_travel_time_a_tick_sends_couriers_out_and_a_later_tick_delivers_when_they_are_due(settings):
    settings.PALMETTO_CONFIG = dataclasses.replace(settings.PALMETTO_CONFIG, timings=Timings(0, 0, 600))
    order = ready()
    services.delivery_open(**order)
    assert services.deliveries_advance_due() == 1
    delivery = Delivery.objects.get()
    assert delivery.stage == Delivery.Stage.OUT_FOR_DELIVERY
    assert timedelta(seconds=590) < delivery.due_at - delivery.picked_up_at <= timedelta(seconds=600)
    assert services.deliveries_advance_due() == 0  # still travelling
    assert 590 < deliveries_next_due() <= 600  # the timer loop sleeps this long
    Delivery.objects.update(due_at=timezone.now() - timedelta(seconds=1))
    assert -2 < deliveries_next_due() <= -1
    assert services.deliveries_advance_due() == 1
    delivery.refresh_from_db()
    assert delivery.stage == Delivery.Stage.DELIVERED and not delivery.courier.busy
    assert [status for status, _, _ in published(order["order_id"])] == ["OUT_FOR_DELIVERY", "DELIVERED"]
    assert deliveries_next_due() is None  # a delivered order's past due time sets no timer

"""Outbox relay and consumer loop against the real broker and the real PostgreSQL."""

from __future__ import annotations

import json
import threading
import uuid

import psycopg
import pytest
from django.core.management import call_command
from django.db import OperationalError, connections, transaction

from client_app.orders.declaration import SERVICE as CLIENT
from common.devstack.kafka_tools import committed_offsets, end_offsets, produce_raw, read_all, wait_for
from common.errors import ConsumerHalted
from common.events import OrderPlaced, decode, encode
from common.kafka.consumer import Subscription
from common.lifecycle import Status
from common.outbox import OutboxRelay
from common.topics import NOTIFICATIONS, ORDERS, consumer_group
from palmetto_app.kitchen.declaration import SERVICE as PALMETTO
from palmetto_app.kitchen.models import InboxEvent as KitchenInbox
from palmetto_app.kitchen.models import OutboxMessage as KitchenOutbox
from palmetto_app.kitchen.models import Ticket
from tests.support.config import configure
from tests.support.factories import order_placed, status_changed
from tests.support.workers import consumer_for, create_order, producer, running

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_createtopics_creates_three_partitions_each_and_is_idempotent(kafka_bootstrap, topic_prefix, settings, capsys):
    configure(settings, kafka_bootstrap_servers=kafka_bootstrap, topic_prefix=topic_prefix)
    call_command("createtopics")
    first = capsys.readouterr().out
    call_command("createtopics")
    second = capsys.readouterr().out
    assert first.count("created ") == 4 and "(3 partitions)" in first
    assert second.count("exists ") == 4 and "created" not in second
    assert all(len(end_offsets(kafka_bootstrap, f"{topic_prefix}{t}")) == 3 for t in ("orders", "notifications"))


def test_relay_publishes_committed_events_keyed_by_correlation_id_and_marks_them_sent(kafka_bootstrap, kafka_topics):
    envelopes = [order_placed() for _ in range(5)]
    with transaction.atomic():
        for envelope in envelopes:
            CLIENT.publisher.write(envelope)
    relay = OutboxRelay(CLIENT.outbox, producer(kafka_bootstrap), topic_prefix=kafka_topics)
    assert relay.publish_batch() == 5
    assert relay.publish_batch() == 0
    assert not CLIENT.outbox.objects.filter(sent_at__isnull=True).exists()
    records = read_all(kafka_bootstrap, ORDERS.full_name(kafka_topics))
    assert len(records) == 5
    by_id = {str(e.event_id): e for e in envelopes}
    for record in records:
        envelope = decode(record.value, list(record.headers.items()))
        assert record.key == envelope.correlation_id.encode() == record.headers["correlation_id"]
        assert envelope == by_id[str(envelope.event_id)]


def test_a_rolled_back_change_publishes_nothing(kafka_bootstrap, kafka_topics):
    with pytest.raises(RuntimeError), transaction.atomic():
        CLIENT.publisher.write(order_placed())
        raise RuntimeError("the change failed after the event was queued")
    relay = OutboxRelay(CLIENT.outbox, producer(kafka_bootstrap), topic_prefix=kafka_topics)
    assert relay.publish_batch() == 0
    assert read_all(kafka_bootstrap, ORDERS.full_name(kafka_topics), timeout=2) == []


def test_consumer_applies_once_and_commits_after_the_database(kafka_bootstrap, kafka_topics):
    orders = ORDERS.full_name(kafka_topics)
    envelope = order_placed()
    key, value, headers = encode(envelope)
    for _ in range(3):  # the same event delivered three times (producer retries, replays)
        produce_raw(kafka_bootstrap, orders, value, key=key, headers=headers, partition=1)
    with running(consumer_for(PALMETTO, 1, kafka_bootstrap, kafka_topics)):
        group = consumer_group(kafka_topics, "palmetto")
        wait_for(lambda: committed_offsets(kafka_bootstrap, group, orders)[1] == 3, what="offset 3 committed")
    assert Ticket.objects.filter(order_id=envelope.order_id).count() == 1
    assert KitchenOutbox.objects.filter(order_id=envelope.order_id).count() == 1  # one ACCEPTED
    [inbox] = KitchenInbox.objects.all()
    assert (inbox.event_id, inbox.topic, inbox.partition, inbox.offset) == (envelope.event_id, orders, 1, 0)


def _unknown_type() -> bytes:
    body = json.loads(encode(order_placed())[1])
    body["event_type"] = "PizzaThrown"
    return json.dumps(body).encode()


POISON = {"not json": b"\x00\x01 definitely not json", "unknown type": _unknown_type()}


def test_poison_goes_to_the_dead_letter_topic_and_the_partition_keeps_flowing(kafka_bootstrap, kafka_topics):
    orders = ORDERS.full_name(kafka_topics)
    good = order_placed()
    key, value, headers = encode(good)
    produce_raw(kafka_bootstrap, orders, POISON["not json"], key=b"k1", partition=2, headers=[("trace", b"abc")])
    produce_raw(kafka_bootstrap, orders, value, key=key, headers=headers, partition=2)
    produce_raw(kafka_bootstrap, orders, POISON["unknown type"], key=b"k2", partition=2)
    with running(consumer_for(PALMETTO, 2, kafka_bootstrap, kafka_topics)):
        wait_for(lambda: committed_offsets(kafka_bootstrap, consumer_group(kafka_topics, "palmetto"), orders)[2] == 3,
                 what="partition 2 committed past the poison")
    assert Ticket.objects.filter(order_id=good.order_id).exists()
    # The DLT keeps the original key, so the two may sit in different DLT partitions.
    dead = sorted(read_all(kafka_bootstrap, ORDERS.dlt_name(kafka_topics)), key=lambda d: int(d.headers["dlt.offset"]))
    assert [(d.key, d.value) for d in dead] == [(b"k1", POISON["not json"]), (b"k2", POISON["unknown type"])]
    first = dead[0].headers
    assert first["trace"] == b"abc"  # original headers kept
    assert (first["dlt.topic"], first["dlt.partition"], first["dlt.offset"]) == (orders.encode(), b"2", b"0")
    assert b"not UTF-8 JSON" in first["dlt.error"]
    assert dead[1].headers["dlt.offset"] == b"2" and b"unknown event" in dead[1].headers["dlt.error"]


TRANSIENT = {
    "database restarting": psycopg.errors.AdminShutdown,
    "lock timeout": psycopg.errors.LockNotAvailable,
    "serialization failure": psycopg.errors.SerializationFailure,
    "deadlock": psycopg.errors.DeadlockDetected,
}


@pytest.mark.parametrize("kind", TRANSIENT)
def test_transient_failures_are_retried_in_place_and_nothing_is_committed_meanwhile(
    kafka_bootstrap, kafka_topics, kind
):
    orders = ORDERS.full_name(kafka_topics)
    envelope = order_placed()
    key, value, headers = encode(envelope)
    produce_raw(kafka_bootstrap, orders, value, key=key, headers=headers, partition=0)
    group = consumer_group(kafka_topics, "palmetto")
    failures = {"left": 3}
    release = threading.Event()
    [real] = PALMETTO.subscriptions

    def flaky(env):
        if failures["left"] > 0:
            failures["left"] -= 1
            if failures["left"] == 0:
                release.wait(10)  # hold the last failure until the test has looked at the offsets
            # As Django raises it: its OperationalError, caused by the driver's error.
            raise OperationalError(kind) from TRANSIENT[kind](kind)
        real.handlers[OrderPlaced](env)

    subscription = Subscription(ORDERS, {OrderPlaced: flaky})
    with running(consumer_for(PALMETTO, 0, kafka_bootstrap, kafka_topics, subscriptions=(subscription,))):
        wait_for(lambda: failures["left"] == 0, what="three failed attempts")
        assert committed_offsets(kafka_bootstrap, group, orders)[0] < 0  # nothing committed yet
        assert not Ticket.objects.exists()
        release.set()
        wait_for(lambda: committed_offsets(kafka_bootstrap, group, orders)[0] == 1, what="commit after success")
    assert Ticket.objects.filter(order_id=envelope.order_id).count() == 1
    assert read_all(kafka_bootstrap, ORDERS.dlt_name(kafka_topics), timeout=2) == []


def test_courier_ignores_everything_but_ready_for_delivery(kafka_bootstrap, kafka_topics):
    import uuid

    from common.lifecycle import Status
    from courier_app.delivery.declaration import SERVICE as COURIER
    from courier_app.delivery.models import Delivery
    from courier_app.delivery.models import InboxEvent as CourierInbox
    from tests.support.factories import status_changed

    notifications = NOTIFICATIONS.full_name(kafka_topics)
    oid, cid = uuid.uuid4(), "order-77"
    for status, seq, source in [
        (Status.ACCEPTED, 1, "palmetto"),
        (Status.PREPARING, 2, "palmetto"),
        (Status.READY_FOR_DELIVERY, 3, "palmetto"),
        (Status.OUT_FOR_DELIVERY, 4, "courier"),
        (Status.DELIVERED, 5, "courier"),
    ]:
        key, value, headers = encode(status_changed(oid, cid, status, seq, source=source))
        produce_raw(kafka_bootstrap, notifications, value, key=key, headers=headers, partition=0)
    with running(consumer_for(COURIER, 0, kafka_bootstrap, kafka_topics)):
        wait_for(
            lambda: committed_offsets(kafka_bootstrap, consumer_group(kafka_topics, "courier"), notifications)[0] == 5,
            what="all five notifications consumed",
        )
    assert Delivery.objects.filter(order_id=oid).count() == 1
    assert list(CourierInbox.objects.values_list("event_type", flat=True)) == ["OrderStatusChanged"]


def test_a_row_locked_past_the_lock_timeout_is_retried_until_the_lock_is_gone(
    kafka_bootstrap, kafka_topics, caplog, monkeypatch
):
    """A real PostgreSQL lock timeout: another transaction holds the order's row; the consumer's update fails
    after lock_timeout, rolls back, backs off and tries again -- nothing applied or committed until it can."""
    from client_app.orders.models import Order

    order_id, correlation_id = uuid.uuid4(), "locked-order"
    create_order(order_id, correlation_id)
    key, value, headers = encode(status_changed(order_id, correlation_id, Status.ACCEPTED, 1))
    notifications = NOTIFICATIONS.full_name(kafka_topics)
    produce_raw(kafka_bootstrap, notifications, value, key=key, headers=headers, partition=1)
    # The consumer thread opens its own connection from these settings: a short lock_timeout keeps the test quick.
    monkeypatch.setitem(connections.settings["default"]["OPTIONS"], "options", "-c lock_timeout=300")
    params = connections["default"].get_connection_params()
    group = consumer_group(kafka_topics, "client")
    with psycopg.connect(**{k: v for k, v in params.items() if k != "options"}) as holder:
        holder.execute("SELECT 1 FROM orders_order WHERE id = %s FOR UPDATE", [order_id])
        with running(consumer_for(CLIENT, 1, kafka_bootstrap, kafka_topics)):
            wait_for(lambda: caplog.text.count("lock timeout") >= 2, what="two attempts failing on the lock timeout")
            assert committed_offsets(kafka_bootstrap, group, notifications)[1] < 0
            assert Order.objects.get(id=order_id).status == Status.PLACED
            holder.rollback()  # the stuck transaction ends
            wait_for(
                lambda: committed_offsets(kafka_bootstrap, group, notifications)[1] == 1, what="commit after success"
            )
    assert Order.objects.get(id=order_id).status == Status.ACCEPTED
    assert read_all(kafka_bootstrap, NOTIFICATIONS.dlt_name(kafka_topics), timeout=2) == []


def test_a_flood_of_invalid_messages_halts_the_consumer_instead_of_dead_lettering_it(kafka_bootstrap, kafka_topics):
    """Most recent messages invalid means a bug or a bad deploy upstream: stop and keep them for after the fix."""
    orders = ORDERS.full_name(kafka_topics)
    for i in range(12):
        produce_raw(kafka_bootstrap, orders, b"garbage from a broken producer", key=f"k{i}".encode(), partition=0)
    outcome: dict[str, Exception] = {}
    stop = threading.Event()

    def consume() -> None:
        try:
            consumer_for(PALMETTO, 0, kafka_bootstrap, kafka_topics).run(stop)
        except ConsumerHalted as exc:
            outcome["halted"] = exc

    thread = threading.Thread(target=consume, daemon=True)
    thread.start()
    thread.join(60)
    stop.set()
    assert "halted" in outcome, "the consumer did not halt"
    assert "12 of the last 12 messages were invalid" in str(outcome["halted"])
    assert committed_offsets(kafka_bootstrap, consumer_group(kafka_topics, "palmetto"), orders)[0] < 0
    assert read_all(kafka_bootstrap, ORDERS.dlt_name(kafka_topics), timeout=2) == []

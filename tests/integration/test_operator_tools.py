"""Operator commands against the real broker and PostgreSQL: deadletters, consumerlag, reconcile."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction
from django.utils import timezone

from client_app.orders.declaration import SERVICE as CLIENT
from client_app.orders.models import InboxEvent as ClientInbox
from client_app.orders.models import Order
from client_app.orders.models import OutboxMessage as ClientOutbox
from common import deployment
from common.devstack.kafka_tools import committed_offsets, produce_raw, read_all, wait_for
from common.devstack.ports import free_port
from common.events import CancellationRequested, decode, encode
from common.lifecycle import Status
from common.outbox import OutboxRelay
from common.topics import NOTIFICATIONS, ORDERS, consumer_group
from courier_app.delivery import services as delivery_services
from courier_app.delivery.declaration import SERVICE as COURIER
from courier_app.delivery.models import Courier, Delivery
from courier_app.delivery.models import OutboxMessage as CourierOutbox
from palmetto_app.kitchen import services as kitchen
from palmetto_app.kitchen.declaration import SERVICE as PALMETTO
from palmetto_app.kitchen.models import OutboxMessage as KitchenOutbox
from palmetto_app.kitchen.models import Ticket
from tests.support.config import configure
from tests.support.factories import open_ticket, order_placed, status_changed
from tests.support.workers import consumer_for, create_order, producer, running

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

REPO = Path(__file__).resolve().parents[2]


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def manage(bootstrap: str, prefix: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``manage.py *args`` as a separate process pointed at this test's broker and topics."""
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap, "PALMETTO_TOPIC_PREFIX": prefix}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return subprocess.run([sys.executable, "manage.py", *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=60)


# --------------------------------------------------------------------------- deadletters


NOT_UTF8 = b"\xff\xfe not json"


def _unknown_type() -> bytes:
    body = json.loads(encode(order_placed())[1])
    body["event_type"] = "PizzaThrown"
    return json.dumps(body).encode()


def test_list_and_show_present_each_dead_letter_with_its_error_and_origin(kafka_bootstrap, kafka_topics):
    orders, dlt = ORDERS.full_name(kafka_topics), ORDERS.dlt_name(kafka_topics)
    unknown = _unknown_type()
    key, value, headers = encode(order_placed())
    produce_raw(kafka_bootstrap, orders, NOT_UTF8, key=b"k1", partition=2, headers=[("trace", b"abc")])
    produce_raw(kafka_bootstrap, orders, value, key=key, headers=headers, partition=2)
    produce_raw(kafka_bootstrap, orders, unknown, key=b"k2", partition=2)
    group = consumer_group(kafka_topics, "palmetto")
    with running(consumer_for(PALMETTO, 2, kafka_bootstrap, kafka_topics)):
        wait_for(lambda: committed_offsets(kafka_bootstrap, group, orders)[2] == 3, what="poison dead-lettered")
    where = {int(d.headers["dlt.offset"]): d for d in read_all(kafka_bootstrap, dlt)}
    first, second = where[0], where[2]

    listing = run("deadletters", "list")
    assert f"{dlt}: 2 dead letters\n" in listing
    assert f"{NOTIFICATIONS.dlt_name(kafka_topics)}: 0 dead letters\n" in listing
    [line_k1] = [line for line in listing.splitlines() if "key k1" in line]
    assert line_k1.strip().startswith(f"{first.partition}:{first.offset}  from {orders}[2]@0  group {group}")
    assert f"failed_at {first.headers['dlt.failed_at'].decode()}" in line_k1 and "error: not UTF-8 JSON" in line_k1
    [line_k2] = [line for line in listing.splitlines() if "key k2" in line]
    assert f"from {orders}[2]@2" in line_k2 and "error: unknown event PizzaThrown version 2" in line_k2

    limited = run("deadletters", "list", "--topic", "orders", "--limit", "1")
    assert f"{dlt}: 2 dead letters, showing the oldest 1" in limited
    assert len([line for line in limited.splitlines() if " from " in line]) == 1
    assert NOTIFICATIONS.dlt_name(kafka_topics) not in limited

    shown = run("deadletters", "show", "orders.DLT", f"{first.partition}:{first.offset}")
    assert f"origin       {orders}[2]@0\n" in shown
    assert f"group        {group}\n" in shown
    assert "error        not UTF-8 JSON" in shown
    assert "key          k1\n" in shown
    assert "  trace: abc\n" in shown and "  dlt.offset: 0\n" in shown and f"  dlt.topic: {orders}\n" in shown
    assert f"value ({len(NOT_UTF8)} bytes)\n(hex) {NOT_UTF8.hex()}\n" in shown
    as_text = run("deadletters", "show", "orders", f"{second.partition}:{second.offset}")
    assert as_text.endswith(unknown.decode() + "\n")  # UTF-8 values are shown as text
    assert "error        unknown event PizzaThrown version 2" in as_text

    # As an operator types it: a real process, Django's --settings after the action.
    done = manage(kafka_bootstrap, kafka_topics, "deadletters", "list", "--topic", "orders",
                  "--settings=palmetto_app.settings")
    assert done.returncode == 0, done.stderr
    assert f"{dlt}: 2 dead letters\n" in done.stdout and "error: not UTF-8 JSON" in done.stdout


def test_bad_input_is_a_clear_command_error(kafka_topics):
    with pytest.raises(CommandError, match="unknown topic 'payments.DLT': choose from orders, notifications"):
        run("deadletters", "show", "payments.DLT", "0:0")
    with pytest.raises(CommandError, match="not a position"):
        run("deadletters", "show", "orders.DLT", "1-2")
    with pytest.raises(CommandError, match="partition 0 has no offset 5: it holds nothing"):
        run("deadletters", "show", "orders.DLT", "0:5")
    with pytest.raises(CommandError, match="has no partition 7"):
        run("deadletters", "replay", "orders", "7:0")
    with pytest.raises(CommandError, match="invalid choice"):
        run("deadletters", "list", "--topic", "payments")
    with pytest.raises(CommandError, match="--limit must be at least 1"):
        run("deadletters", "list", "--limit", "0")
    with pytest.raises(CommandError, match="usage: deadletters show TOPIC PARTITION:OFFSET"):
        run("deadletters", "show", "orders.DLT")
    with pytest.raises(CommandError, match="--topic and --limit go with list"):
        run("deadletters", "replay", "orders", "0:0", "--limit", "3")


def test_an_unreachable_broker_is_a_command_error_within_seconds(settings):
    configure(settings, kafka_bootstrap_servers=f"127.0.0.1:{free_port()}")  # nothing listens there
    settings.PALMETTO_SERVICE = deployment.PALMETTO
    for command, limit in (
        (("deadletters", "list"), 10),  # the default timeout
        (("consumerlag", "--json"), 10),
        (("deadletters", "show", "orders.DLT", "0:0", "--timeout", "1"), 5),
        (("deadletters", "replay", "orders", "0:0", "--timeout", "1"), 5),
    ):
        started = time.monotonic()
        with pytest.raises(CommandError, match="is unreachable"):
            run(*command)
        elapsed = time.monotonic() - started
        assert elapsed < limit, f"{command} took {elapsed:.1f}s"


def test_replay_puts_a_fixed_message_back_and_the_consumer_applies_it_once(kafka_bootstrap, kafka_topics):
    notifications, dlt = NOTIFICATIONS.full_name(kafka_topics), NOTIFICATIONS.dlt_name(kafka_topics)
    order_id, correlation_id = uuid.uuid4(), f"order-{uuid.uuid4().hex[:8]}"
    accepted = status_changed(order_id, correlation_id, Status.ACCEPTED, 1)
    key, value, headers = encode(accepted)
    # Keyed, not pinned: the replay goes through the platform's producer and must land in the same partition.
    produce_raw(kafka_bootstrap, notifications, value, key=key, headers=[*headers, ("trace", b"t-1")])
    [original] = read_all(kafka_bootstrap, notifications)
    group = consumer_group(kafka_topics, "client")
    with running(consumer_for(CLIENT, original.partition, kafka_bootstrap, kafka_topics)):
        # The Client App has never heard of the order: the event can never succeed, so it is dead-lettered.
        wait_for(lambda: committed_offsets(kafka_bootstrap, group, notifications)[original.partition] == 1,
                 what="the event dead-lettered and committed past")
        [dead] = read_all(kafka_bootstrap, dlt)
        assert b"no order" in dead.headers["dlt.error"]

        create_order(order_id, correlation_id)  # the operator's fix
        position = f"{dead.partition}:{dead.offset}"
        out = run("deadletters", "replay", "notifications", position)
        assert f"replayed {dlt} {position} -> {notifications} (key {correlation_id}, 5 headers;" in out
        assert f"dead-lettered from {notifications}[{original.partition}]@0" in out and "1 replayed" in out
        wait_for(lambda: Order.objects.get(id=order_id).status == Status.ACCEPTED, what="the replayed event applied")

        run("deadletters", "replay", "notifications.DLT", position)  # again: the inbox absorbs it
        wait_for(lambda: committed_offsets(kafka_bootstrap, group, notifications)[original.partition] == 3,
                 what="the second replay consumed")

    first, *replays = read_all(kafka_bootstrap, notifications)
    assert len(replays) == 2
    for replay in replays:
        assert (replay.partition, replay.key, replay.value) == (original.partition, key, value)
        assert replay.headers == first.headers and not any(name.startswith("dlt.") for name in replay.headers)
    assert ClientInbox.objects.filter(event_id=accepted.event_id).count() == 1
    order = Order.objects.get(id=order_id)
    assert (order.status, order.status_sequence) == (Status.ACCEPTED, 1)
    assert len(read_all(kafka_bootstrap, dlt)) == 1  # nothing dead-lettered again


def test_replay_refuses_messages_that_do_not_say_where_they_came_from(kafka_bootstrap, kafka_topics):
    orders, dlt = ORDERS.full_name(kafka_topics), ORDERS.dlt_name(kafka_topics)
    produce_raw(kafka_bootstrap, dlt, b"{}", key=b"a", partition=0)  # no dlt.* headers at all
    produce_raw(kafka_bootstrap, dlt, b"{}", key=b"b", partition=0,
                headers=[("dlt.topic", NOTIFICATIONS.full_name(kafka_topics).encode()), ("dlt.error", b"bad")])
    with pytest.raises(CommandError, match="no dlt.topic header: not a Palmetto dead letter"):
        run("deadletters", "replay", "orders", "0:0")
    with pytest.raises(CommandError, match=f"came from {re.escape(NOTIFICATIONS.full_name(kafka_topics))}, not"):
        run("deadletters", "replay", "orders", "0:1")
    with pytest.raises(CommandError):  # all positions are checked before anything is sent
        run("deadletters", "replay", "orders", "0:0", "0:1")
    assert read_all(kafka_bootstrap, orders, timeout=2) == []
    listing = run("deadletters", "list", "--topic", "orders")
    assert "0:1  from " + NOTIFICATIONS.full_name(kafka_topics) + "[?]@?  group ?" in listing
    assert "key a  error: ?" in listing


# --------------------------------------------------------------------------- consumerlag


def test_consumerlag_shows_committed_end_and_lag_per_partition(kafka_bootstrap, kafka_topics, settings):
    settings.PALMETTO_SERVICE = deployment.PALMETTO
    orders = ORDERS.full_name(kafka_topics)

    def publish(count: int, partition: int) -> None:
        for _ in range(count):
            key, value, headers = encode(order_placed())
            produce_raw(kafka_bootstrap, orders, value, key=key, headers=headers, partition=partition)

    publish(5, 0)
    publish(2, 1)
    group = consumer_group(kafka_topics, "palmetto")
    with running(consumer_for(PALMETTO, 0, kafka_bootstrap, kafka_topics)):
        wait_for(lambda: committed_offsets(kafka_bootstrap, group, orders)[0] == 5, what="partition 0 committed")
    publish(2, 0)

    report = json.loads(run("consumerlag", "--json"))
    assert (report["service"], report["group"], report["total_lag"]) == ("palmetto", group, 4)
    assert report["partitions"] == [
        {"topic": orders, "partition": 0, "committed": 5, "start": 0, "end": 7, "lag": 2},
        {"topic": orders, "partition": 1, "committed": None, "start": 0, "end": 2, "lag": 2},
        {"topic": orders, "partition": 2, "committed": None, "start": 0, "end": 0, "lag": 0},
    ]
    table = run("consumerlag")
    assert f"consumer group {group}" in table and table.rstrip().endswith("total lag 4")
    assert re.search(rf"^{re.escape(orders)}\s+0\s+5\s+7\s+2$", table, re.M)
    assert re.search(rf"^{re.escape(orders)}\s+1\s+-\s+2\s+2$", table, re.M)

    # As an operator runs it: a real process with one service's settings, exit status 0.
    done = manage(kafka_bootstrap, kafka_topics, "consumerlag", "--json", "--settings=palmetto_app.settings")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["total_lag"] == 4


# --------------------------------------------------------------------------- reconcile


def _age(model, order_id: uuid.UUID, **ages: timedelta) -> None:
    """Pretend the row last changed a while ago (``update()`` bypasses ``auto_now``)."""
    now = timezone.now()
    model.objects.filter(order_id=order_id).update(**{field: now - age for field, age in ages.items()})


def _kitchen_ticket(ready: bool = True) -> uuid.UUID:
    envelope = order_placed()
    with transaction.atomic():
        open_ticket(envelope)
    if ready:
        kitchen.tickets_advance_due()  # zero timings: PREPARING now, READY_FOR_DELIVERY next
        kitchen.tickets_advance_due()
    return envelope.order_id


def _unsent(model) -> set[uuid.UUID]:
    return set(model.objects.filter(sent_at__isnull=True).values_list("event_id", flat=True))


def _latest(model, order_id: uuid.UUID):
    return model.objects.filter(order_id=order_id).order_by("-id").first()


def test_reconcile_requeues_the_latest_event_of_quiet_orders_and_the_relay_sends_it_with_the_same_id(
    kafka_bootstrap, kafka_topics, settings
):
    settings.PALMETTO_SERVICE = deployment.PALMETTO
    stuck, fresh, ancient, pending = (_kitchen_ticket() for _ in range(4))
    assert KitchenOutbox.objects.filter(order_id=stuck).count() == 3  # ACCEPTED, PREPARING, READY_FOR_DELIVERY
    KitchenOutbox.objects.exclude(order_id=pending).update(sent_at=timezone.now())
    KitchenOutbox.objects.filter(order_id=pending).exclude(id=_latest(KitchenOutbox, pending).id).update(
        sent_at=timezone.now()
    )  # its newest event is still waiting for the relay (e.g. the broker was down)
    _age(Ticket, stuck, updated_at=timedelta(minutes=10))
    _age(Ticket, fresh, updated_at=timedelta(minutes=1))
    _age(Ticket, ancient, updated_at=timedelta(days=2))
    _age(Ticket, pending, updated_at=timedelta(minutes=10))
    latest = _latest(KitchenOutbox, stuck)
    waiting = _latest(KitchenOutbox, pending).event_id

    dry = run("reconcile", "--dry-run")
    assert "palmetto: 2 orders last changed between" in dry
    assert "would re-queue the latest event of 1 order: OrderStatusChanged READY_FOR_DELIVERY x1\n" in dry
    assert f"  order {stuck}  OrderStatusChanged READY_FOR_DELIVERY  event {latest.event_id}\n" in dry
    assert "1 other order: latest event still waiting in the outbox" in dry and "dry run: nothing changed" in dry
    assert _unsent(KitchenOutbox) == {waiting}

    out = run("reconcile")
    assert "re-queued the latest event of 1 order: OrderStatusChanged READY_FOR_DELIVERY x1\n" in out
    assert _unsent(KitchenOutbox) == {latest.event_id, waiting}  # the stuck order's newest row only

    relay = OutboxRelay(KitchenOutbox, producer(kafka_bootstrap, "tests-relay"), topic_prefix=kafka_topics)
    assert relay.publish_batch() == 2
    published = {decode(r.value, list(r.headers.items())).event_id: r
                 for r in read_all(kafka_bootstrap, NOTIFICATIONS.full_name(kafka_topics))}
    assert set(published) == {latest.event_id, waiting}
    again = published[latest.event_id]
    assert again.value == latest.value.encode() and again.key == latest.key.encode()  # byte for byte: same event
    assert again.headers["event_id"] == str(latest.event_id).encode()

    wider = run("reconcile", "--older-than", "120", "--within", str(3 * 86400))
    assert "re-queued the latest event of 3 orders: OrderStatusChanged READY_FOR_DELIVERY x3\n" in wider
    assert _unsent(KitchenOutbox) == {_latest(KitchenOutbox, o).event_id for o in (stuck, ancient, pending)}

    with pytest.raises(CommandError, match="--within must be longer than --older-than"):
        run("reconcile", "--older-than", "600", "--within", "60")


def test_client_reconciles_unfinished_orders_only(settings):
    settings.PALMETTO_SERVICE = deployment.CLIENT
    placed, cancelling, delivered, recent = (uuid.uuid4() for _ in range(4))
    for order_id in (placed, cancelling, delivered, recent):
        correlation_id = f"c-{order_id.hex[:12]}"
        create_order(order_id, correlation_id, status=Status.DELIVERED if order_id == delivered else Status.PLACED)
        CLIENT.publisher.write(order_placed(order_id=order_id, correlation_id=correlation_id))
    CLIENT.publisher.publish(CancellationRequested(reason=None), order_id=cancelling,
                             correlation_id=f"c-{cancelling.hex[:12]}")
    ClientOutbox.objects.update(sent_at=timezone.now())
    for order_id in (placed, cancelling, delivered):
        Order.objects.filter(id=order_id).update(updated_at=timezone.now() - timedelta(minutes=30))

    now = timezone.now()
    assert set(CLIENT.stuck_orders(now - timedelta(days=1), now - timedelta(minutes=5))) == {placed, cancelling}
    out = run("reconcile")
    assert "client: 2 orders last changed" in out
    # The latest event of each type: the cancelling order's OrderPlaced too, in case Kafka lost both.
    assert "re-queued the latest event of 2 orders: CancellationRequested x1, OrderPlaced x2\n" in out
    assert _unsent(ClientOutbox) == set(
        ClientOutbox.objects.filter(order_id__in=(placed, cancelling)).values_list("event_id", flat=True)
    )


def test_courier_counts_a_delivery_changed_when_its_stage_moved(settings):
    settings.PALMETTO_SERVICE = deployment.COURIER
    now = timezone.now()
    out_for_delivery, just_delivered, waiting = (uuid.uuid4() for _ in range(3))
    for order_id, stage in ((out_for_delivery, Delivery.Stage.OUT_FOR_DELIVERY),
                            (just_delivered, Delivery.Stage.DELIVERED), (waiting, Delivery.Stage.WAITING)):
        Delivery.objects.create(order_id=order_id, correlation_id=f"c-{order_id.hex[:12]}", stage=stage, sequence=3,
                                ready_at=now - timedelta(hours=1))
        if stage != Delivery.Stage.WAITING:
            COURIER.publisher.announce(Status.OUT_FOR_DELIVERY, order_id=order_id,
                                       correlation_id=f"c-{order_id.hex[:12]}", sequence=4, courier="Rosa")
    COURIER.publisher.announce(Status.DELIVERED, order_id=just_delivered,
                               correlation_id=f"c-{just_delivered.hex[:12]}", sequence=5)
    CourierOutbox.objects.update(sent_at=now)
    _age(Delivery, out_for_delivery, updated_at=timedelta(minutes=20))
    _age(Delivery, waiting, updated_at=timedelta(minutes=10))
    _age(Delivery, just_delivered, updated_at=timedelta(minutes=1))  # delivered a minute ago: not quiet long enough

    assert COURIER.stuck_orders(now - timedelta(days=1), now - timedelta(minutes=5)) == [out_for_delivery, waiting]
    out = run("reconcile")
    assert "courier: 2 orders last changed" in out
    assert "re-queued the latest event of 1 order: OrderStatusChanged OUT_FOR_DELIVERY x1\n" in out
    assert "1 other order: latest event still waiting in the outbox, or no event of its own" in out  # WAITING
    assert _unsent(CourierOutbox) == {_latest(CourierOutbox, out_for_delivery).event_id}

    # The selector reads updated_at alone because every stage move stamps it: a delivery quiet for an
    # hour is dispatched, then delivered, and each move makes it recent again.
    Courier.objects.create(name="Tomasz")  # transactional tests start without the seeded couriers
    moved = delivery_services.delivery_open(order_id=uuid.uuid4(), correlation_id="c-moved", ready_sequence=3,
                                            ready_at=now - timedelta(days=2))
    for move in (delivery_services.deliveries_dispatch, delivery_services.deliveries_complete_due):
        _age(Delivery, moved.order_id, updated_at=timedelta(hours=1))
        before = timezone.now()
        move()
        assert Delivery.objects.get(order_id=moved.order_id).updated_at >= before


def test_commands_of_one_service_say_when_run_without_one(settings, kafka_topics):
    settings.PALMETTO_SERVICE = None  # the combined test settings, like any settings but a service's
    for command in ("reconcile", "consumerlag"):
        with pytest.raises(CommandError, match="PALMETTO_SERVICE is not set"):
            run(command)

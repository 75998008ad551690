"""Poison messages, a full replay of every topic, stale and out-of-order status events."""

from __future__ import annotations

import uuid

import pytest
from confluent_kafka import Consumer, TopicPartition

from common.deployment import NAMES
from common.devstack.invariants import SERVICES as SPECS
from common.devstack.invariants import Invariants
from common.devstack.kafka_tools import committed_offsets, consumed_to_end, produce_raw, read_all, wait_for
from common.events import encode
from common.lifecycle import Status
from common.topics import NOTIFICATIONS, ORDERS, consumer_group
from tests.support.factories import status_changed
from tests.support.platform import OrderStream
from tests.support.poison import inject, poison_for

pytestmark = pytest.mark.faults


def test_poison_lands_in_the_dead_letter_topics_and_partitions_keep_flowing(platform):
    poison = poison_for(ORDERS) + poison_for(NOTIFICATIONS)
    with OrderStream(platform) as stream:
        stream.wait_for(10)
        inject(platform, poison, headers=[("origin", b"third-party-client")])
        stream.wait_for(30)
    report = Invariants(platform).check(stream.acknowledged, poison)
    assert report.figures["dead letters"] == 5 * 2 + 5 * 2  # each topic has two consumer groups
    for record in read_all(platform.bootstrap, ORDERS.dlt_name(platform.prefix)):
        assert record.headers["origin"] == b"third-party-client"  # original headers kept
        assert record.headers["dlt.topic"] == ORDERS.full_name(platform.prefix).encode()
        groups = {consumer_group(platform.prefix, service).encode() for service in ORDERS.consumers}
        assert record.headers["dlt.group"] in groups
        assert int(record.headers["dlt.partition"]) in (0, 1, 2) and int(record.headers["dlt.offset"]) >= 0
        assert record.headers["dlt.error"]


def _snapshot(invariants: Invariants) -> dict[str, list]:
    return {
        "orders": invariants.rows("client", "SELECT id, status, status_sequence FROM {t}_order ORDER BY id"),
        "history": invariants.rows(
            "client", "SELECT order_id, kind, status, sequence, event_id FROM {t}_orderstatuschange ORDER BY id"
        ),
        "client inbox": invariants.rows("client", "SELECT event_id FROM {t}_inboxevent ORDER BY id"),
        "tickets": invariants.rows("palmetto", "SELECT order_id, stage, sequence FROM {t}_ticket ORDER BY order_id"),
        "kitchen events": invariants.rows("palmetto", "SELECT event_id FROM {t}_outboxmessage ORDER BY id"),
        "kitchen inbox": invariants.rows("palmetto", "SELECT event_id FROM {t}_inboxevent ORDER BY id"),
        "deliveries": invariants.rows(
            "courier", "SELECT order_id, stage, sequence, courier_id FROM {t}_delivery ORDER BY order_id"
        ),
        "courier events": invariants.rows("courier", "SELECT event_id FROM {t}_outboxmessage ORDER BY id"),
        "courier inbox": invariants.rows("courier", "SELECT event_id FROM {t}_inboxevent ORDER BY id"),
    }


def test_replaying_every_topic_from_the_beginning_changes_nothing(platform):
    invariants = Invariants(platform)
    with OrderStream(platform) as stream:
        stream.wait_for(25)
    invariants.check(stream.acknowledged)
    before = _snapshot(invariants)
    assert platform.stop_consumers() == {service: 0 for service in NAMES}
    for service, spec in SPECS.items():
        rewind = Consumer(
            {
                "bootstrap.servers": platform.bootstrap,
                "group.id": consumer_group(platform.prefix, service),
                "enable.auto.commit": False,
            }
        )
        offsets = [
            TopicPartition(s.topic.full_name(platform.prefix), p, 0) for s in spec.subscriptions for p in range(3)
        ]
        rewind.commit(offsets=offsets, asynchronous=False)
        rewind.close()
        assert set(
            committed_offsets(
                platform.bootstrap,
                consumer_group(platform.prefix, service),
                spec.subscriptions[0].topic.full_name(platform.prefix),
            ).values()
        ) == {0}
    for service in NAMES:
        platform.start_consumers(service)
    invariants.check(stream.acknowledged)
    assert _snapshot(invariants) == before
    assert all("already applied; skipped" in platform.log(service) for service in NAMES)


def test_stale_and_out_of_order_events_move_nothing_backwards(platform):
    invariants = Invariants(platform)
    with OrderStream(platform) as stream:
        stream.wait_for(6)
    invariants.check(stream.acknowledged)
    before = _snapshot(invariants)
    notifications = NOTIFICATIONS.full_name(platform.prefix)
    for order_id, correlation_id in list(stream.acknowledged.items())[:3]:
        oid = uuid.UUID(order_id)
        for envelope in (
            status_changed(oid, correlation_id, Status.PREPARING, 2),  # a PREPARING after DELIVERED
            status_changed(oid, correlation_id, Status.OUT_FOR_DELIVERY, 4, source="courier"),  # repeated
            status_changed(
                oid, correlation_id, Status.READY_FOR_DELIVERY, 3
            ),  # a late READY: the courier must not deliver twice
            status_changed(oid, correlation_id, Status.CANCELLED, 6),  # higher sequence, illegal move
        ):
            key, value, headers = encode(envelope)
            produce_raw(platform.bootstrap, notifications, value, key=key, headers=headers)
    for service in ("client", "courier"):
        wait_for(
            lambda service=service: consumed_to_end(
                platform.bootstrap, consumer_group(platform.prefix, service), notifications
            ),
            timeout=60,
            what=f"{service} consumed the stale events",
        )
    invariants.check(stream.acknowledged)
    after = _snapshot(invariants)
    for table in ("orders", "history", "tickets", "deliveries", "courier events", "kitchen events"):
        assert after[table] == before[table], f"{table} changed"
    assert len(after["client inbox"]) == len(before["client inbox"]) + 12  # seen and recorded, changed nothing

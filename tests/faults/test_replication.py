"""Three brokers, replication factor 3, the partition leader SIGKILLed under acks=1 load.

acks=1 means the leader acknowledges before its followers have the message, so
a leader that dies at the wrong moment takes acknowledged messages with it.
The test reports how many Kafka lost and shows that reconciliation (each
service re-publishing the last event of its stuck orders) still brings every
order to a terminal state.
"""

from __future__ import annotations

import time

import pytest
from confluent_kafka.admin import AdminClient

from common import stack
from common.config import SERVICES
from common.infra.kafka_broker import KafkaBroker
from common.topics import NOTIFICATIONS, ORDERS
from tests.faults.invariants import Invariants
from tests.kafka_tools import read_all
from tests.platform import OrderStream, running_platform

pytestmark = pytest.mark.faults


def leader_of(bootstrap: str, topic: str, partition: int) -> int:
    metadata = AdminClient({"bootstrap.servers": bootstrap}).list_topics(topic, timeout=10)
    return metadata.topics[topic].partitions[partition].leader


def lost_acknowledged(invariants: Invariants) -> dict[str, int]:
    """Per service: events its relay saw acknowledged (sent_at set) that are nowhere in their topic."""
    on_kafka = set()
    for topic in (ORDERS, NOTIFICATIONS):
        on_kafka |= {r.headers["event_id"].decode() for r in read_all(invariants.platform.bootstrap,
                                                                         topic.full_name(invariants.platform.prefix))}
    lost = {}
    for service in SERVICES:
        sent = {str(r[0]) for r in invariants.rows(service, "SELECT event_id FROM {t}_outboxmessage WHERE sent_at IS NOT NULL")}
        lost[service] = len(sent - on_kafka)
    return lost


def test_leader_killed_under_acks1_load_and_reconciliation_brings_every_order_home(tmp_path, database_factory, capsys):
    broker = KafkaBroker(tmp_path / "kafka", nodes=3)
    broker.start()
    logs = tmp_path / "logs"
    logs.mkdir()
    try:
        with running_platform(broker.bootstrap_servers, database_factory, logs, replication_factor=3) as platform:
            invariants = Invariants(platform)
            with OrderStream(platform, interval=0.02) as stream:
                stream.wait_for(20)
                victim = leader_of(broker.bootstrap_servers, NOTIFICATIONS.full_name(platform.prefix), 0)
                broker.kill(victim)
                time.sleep(4)
                broker.restart(victim)
                stream.wait_for(len(stream.acknowledged) + 20, timeout=120)
            time.sleep(3)  # let the relays drain before counting
            lost = lost_acknowledged(invariants)
            # Reconcile every service: stuck orders' last events are published again; consumers skip
            # what they already applied (same event ids) and apply what Kafka lost.
            for _ in range(3):
                for service in SERVICES:
                    stack.manage(service, "reconcile", "--older-than", "0", env=platform.env)
                try:
                    invariants.wait_until_settled(stream.acknowledged, timeout=60)
                    break
                except AssertionError:
                    continue
            report = invariants.check(stream.acknowledged)
            with capsys.disabled():
                print(f"\n[replication] leader node {victim} SIGKILLed under acks=1 load: "
                      f"{len(stream.acknowledged)} orders acknowledged, acknowledged events lost by Kafka per service: {lost}; "
                      f"after reconciliation: {report.figures['final statuses']}")
    finally:
        broker.stop()

"""All the faults in one run, as an operator's worst evening: consumers SIGKILLed and restarted, poison from a
third-party client, the broker SIGKILLed and restarted, PostgreSQL stopped and restarted -- under one stream of
orders. Each fault has its own scenario elsewhere; this one looks for what they do to each other."""

from __future__ import annotations

import time

import pytest

from common.devstack.invariants import Invariants
from common.topics import NOTIFICATIONS, ORDERS
from tests.support.platform import OrderStream
from tests.support.poison import inject, poison_for

pytestmark = pytest.mark.faults


def test_consumers_broker_and_database_failing_in_turn_with_poison_in_between(isolated_platform, own_broker,
                                                                               own_postgres):
    platform = isolated_platform
    poison = poison_for(ORDERS) + poison_for(NOTIFICATIONS)
    with OrderStream(platform) as stream:
        stream.wait_for(10)
        inject(platform, poison[:5])
        platform.kill_consumers("palmetto")
        platform.kill_consumers("client")
        time.sleep(0.5)
        platform.start_consumers("palmetto")
        platform.start_consumers("client")
        stream.wait_for(len(stream.acknowledged) + 5, timeout=60)
        own_broker.kill()
        time.sleep(2)
        platform.kill_consumers("courier")
        platform.start_consumers("courier")  # starts while the broker is down
        own_broker.start()
        inject(platform, poison[5:])
        stream.wait_for(len(stream.acknowledged) + 5, timeout=120)
        own_postgres.stop()
        time.sleep(3)
        platform.kill_consumers("palmetto")
        platform.start_consumers("palmetto")  # starts while the database is down
        own_postgres.start()
        stream.wait_for(len(stream.acknowledged) + 10, timeout=120)
    report = Invariants(platform).check(stream.acknowledged, poison)
    assert set(report.figures["final statuses"]) == {"DELIVERED"}
    assert report.figures["dead letters"] == 5 * 2 + 5 * 2  # each topic has two consumer groups

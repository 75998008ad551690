"""Consumer processes killed, crashed at the worst moment, stopped cleanly; the Client App crashing
before publishing."""

from __future__ import annotations

import random
import time

import pytest

from common.deployment import NAMES
from common.devstack.invariants import Invariants
from common.devstack.kafka_tools import wait_for
from tests.support.platform import OrderStream

pytestmark = pytest.mark.faults

SKIPPED = "already applied; skipped"


def test_sigkill_at_random_moments_loses_nothing_and_applies_nothing_twice(platform):
    rng = random.Random(20261122)
    with OrderStream(platform) as stream:
        for _ in range(3):
            for service in NAMES:
                time.sleep(rng.uniform(0.2, 1.2))
                platform.kill_consumers(service)
                time.sleep(rng.uniform(0.0, 0.5))
                platform.start_consumers(service)
        stream.wait_for(60)
    report = Invariants(platform).check(stream.acknowledged)
    assert report.figures["final statuses"] == {"DELIVERED": len(stream.acknowledged)}


@pytest.mark.parametrize("platform", [{"PALMETTO_FAULT_CRASH_BEFORE_OFFSET_COMMIT": "2"}], indirect=True)
def test_crash_after_the_database_commit_before_the_offset_commit(platform):
    """Each consumer process dies right after its 2nd batch committed to the database, before the offsets."""
    with OrderStream(platform) as stream:
        stream.wait_for(30)
        crashed = wait_for(
            lambda: [s for s, p in platform.consumers.items() if p.poll() == 86] or None,
            timeout=60,
            what="a consumer process to crash at the injected point",
        )
    # Processes that have not reached the crash point yet would crash later: stop them cleanly, then
    # run every service again without the fault.
    platform.stop_consumers(*[s for s in NAMES if s not in crashed])
    platform.env.pop("PALMETTO_FAULT_CRASH_BEFORE_OFFSET_COMMIT")
    for service in NAMES:
        platform.start_consumers(service)
    Invariants(platform).check(stream.acknowledged)
    # The crashed batches came back and the inbox absorbed them.
    assert any(SKIPPED in platform.log(service) for service in crashed)
    assert all("fault injection: exiting after the database commit" in platform.log(service) for service in crashed)


def test_sigterm_stops_cleanly_and_redelivers_nothing(platform):
    with OrderStream(platform) as stream:
        stream.wait_for(20)
        codes = platform.stop_consumers()
        assert codes == {service: 0 for service in NAMES}
        sizes = {service: len(platform.log(service)) for service in NAMES}
        for service in NAMES:
            platform.start_consumers(service)
        stream.wait_for(40)
    Invariants(platform).check(stream.acknowledged)
    for service in NAMES:
        after = platform.log(service)[sizes[service] :]
        assert SKIPPED not in after, f"{service} was redelivered something after a clean stop"
        assert "stopped cleanly" in platform.log(service)[: sizes[service]]


def test_orders_committed_while_the_relay_is_down_are_published_later(platform):
    """The Client App crashes after committing orders and before publishing them: the outbox keeps them."""
    platform.kill_consumers("client")  # the client's relay runs inside its runconsumers
    invariants = Invariants(platform)
    stream = OrderStream(platform)
    for _ in range(10):
        stream.place_one()
    assert len(stream.acknowledged) == 10
    (unsent,) = invariants.rows("client", "SELECT count(*) FROM {t}_outboxmessage WHERE sent_at IS NULL")[0]
    assert unsent == 10
    platform.start_consumers("client")
    invariants.check(stream.acknowledged)

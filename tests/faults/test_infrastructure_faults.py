"""The broker killed or restarted mid-stream; PostgreSQL stopped and restarted mid-stream; the API meanwhile."""

from __future__ import annotations

import time

import pytest
import requests

from common.devstack.invariants import Invariants
from tests.support.platform import OrderStream

pytestmark = pytest.mark.faults


def _acknowledged_while(stream: OrderStream, seconds: float) -> int:
    before = len(stream.acknowledged)
    time.sleep(seconds)
    return len(stream.acknowledged) - before


@pytest.mark.parametrize("how", ["sigkill", "clean restart"])
def test_broker_down_mid_stream(isolated_platform, own_broker, how):
    platform = isolated_platform
    with OrderStream(platform) as stream:
        stream.wait_for(15)
        if how == "sigkill":
            own_broker.kill()
        else:
            own_broker.stop()
        # The API keeps taking orders: they wait in the outbox.
        assert _acknowledged_while(stream, 4) > 0
        ready = requests.get(f"{platform.api}/readyz", timeout=15)
        assert ready.status_code == 503 and list(ready.json()["errors"]) == ["kafka"]
        own_broker.start()
        stream.wait_for(len(stream.acknowledged) + 15, timeout=120)
    assert not stream.refused, f"the API refused orders while only the broker was down: {stream.refused}"
    Invariants(platform).check(stream.acknowledged)


def test_postgres_stopped_and_restarted_mid_stream(isolated_platform, own_postgres):
    platform = isolated_platform
    with OrderStream(platform) as stream:
        stream.wait_for(15)
        own_postgres.stop()
        time.sleep(3)
        # Meanwhile the API answers 503 with the error shape, readiness names the database.
        down = requests.Session()
        down.headers.update(stream.http.headers)
        refused = down.post(f"{platform.api}/api/orders/", json={"items": []}, timeout=15)
        assert refused.status_code == 503 and refused.json()["code"] == "database_unavailable"
        ready = requests.get(f"{platform.api}/readyz", timeout=15)
        assert ready.status_code == 503 and "database" in ready.json()["errors"]
        own_postgres.start()
        stream.wait_for(len(stream.acknowledged) + 15, timeout=120)
    assert stream.refused.get(503), "no order was refused while the database was down"
    assert set(stream.refused) <= {503}, stream.refused
    # Consumers retried in place: nothing was dead-lettered, nothing skipped.
    Invariants(platform).check(stream.acknowledged)
    assert any("retrying in" in platform.log(service) for service in ("client", "palmetto", "courier"))

"""The web services' /metrics: who may read it, and that requests are counted by route pattern."""

from __future__ import annotations

import ipaddress

import pytest
from django.contrib.auth.models import User
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from tests.support.config import configure

pytestmark = pytest.mark.django_db


def samples(text: str) -> dict[tuple[str, tuple], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_loopback_clients_may_read_it_and_requests_are_counted_by_route():
    browser = Client(REMOTE_ADDR="127.0.0.1")
    browser.get("/api/menu/")
    response = browser.get("/metrics")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/plain")
    figures = samples(response.content.decode())
    menu = [v for (name, labels), v in figures.items() if name == "palmetto_http_requests_total"
            and ("route", "api/menu/") in labels and ("status", "200") in labels]
    assert menu and menu[0] >= 1


def test_others_get_403_unless_staff(settings):
    configure(settings, metrics_allowed_networks=(ipaddress.ip_network("10.0.0.0/8"),))
    outsider = Client(REMOTE_ADDR="192.0.2.1")
    refused = outsider.get("/metrics")
    assert refused.status_code == 403 and refused.json()["code"] == "forbidden"
    customer = Client(REMOTE_ADDR="192.0.2.1")
    customer.force_login(User.objects.create_user("carol"))
    assert customer.get("/metrics").status_code == 403
    staff = Client(REMOTE_ADDR="192.0.2.1")
    staff.force_login(User.objects.create_user("oscar", is_staff=True))
    assert staff.get("/metrics").status_code == 200
    assert Client(REMOTE_ADDR="10.1.2.3").get("/metrics").status_code == 200


def test_unknown_paths_are_counted_without_their_path():
    browser = Client(REMOTE_ADDR="127.0.0.1")
    # A path no figure can contain: digits alone turned up inside a timestamp sample now and then.
    assert browser.get("/no/such/page/zqxj-probe").status_code == 404
    text = browser.get("/metrics").content.decode()
    assert 'route="unmatched"' in text and "zqxj-probe" not in text


def test_a_restarted_worker_is_counted():
    import threading

    from prometheus_client import REGISTRY

    from common.kafka.consumer import Backoff
    from common.metrics import service_name
    from common.workers import Supervisor

    class DiesTwice:
        name = "metrics-test-worker"

        def __init__(self) -> None:
            self.starts, self.running = 0, threading.Event()

        def run(self, stop: threading.Event) -> None:
            self.starts += 1
            if self.starts <= 2:
                raise RuntimeError("boom")
            self.running.set()
            stop.wait()

    labels = {"service": service_name(), "worker": DiesTwice.name}
    before = REGISTRY.get_sample_value("palmetto_worker_restarts_total", labels) or 0
    worker = DiesTwice()
    supervisor = Supervisor([worker], backoff=Backoff(first=0.01, cap=0.05))
    thread = threading.Thread(target=supervisor.run, daemon=True)
    thread.start()
    assert worker.running.wait(10)
    supervisor.stop()
    thread.join(10)
    assert REGISTRY.get_sample_value("palmetto_worker_restarts_total", labels) - before == 2


def test_a_batchs_applied_and_skipped_messages_are_counted_per_partition():
    from prometheus_client import REGISTRY

    from common import metrics

    class Message:
        def __init__(self, partition: int) -> None:
            self._partition = partition

        def topic(self) -> str:
            return "metrics-test.topic"

        def partition(self) -> int:
            return self._partition

    def count(name: str, partition: int) -> float:
        labels = {"service": "metrics-test", "topic": "metrics-test.topic", "partition": str(partition)}
        return REGISTRY.get_sample_value(name, labels) or 0

    applied, skipped = "palmetto_consumer_messages_applied_total", "palmetto_consumer_duplicates_skipped_total"
    before = [count(applied, 0), count(applied, 1), count(skipped, 1)]
    metrics.applied("metrics-test", [Message(0), Message(1), Message(0)])
    metrics.duplicate_skipped("metrics-test", [Message(1)])
    metrics.duplicate_skipped("metrics-test", [])
    after = [count(applied, 0), count(applied, 1), count(skipped, 1)]
    assert [a - b for a, b in zip(after, before, strict=True)] == [2, 1, 1]

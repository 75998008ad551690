"""Prometheus metrics of a running platform: every endpoint scraped, the figures move with real orders,
and a stopped consumer's lag shows on the processes still running."""

from __future__ import annotations

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from common.devstack import stack
from common.devstack.kafka_tools import wait_for
from common.devstack.platform import order_request
from common.devstack.ports import free_port
from common.topics import NOTIFICATIONS, ORDERS

pytestmark = pytest.mark.e2e

Samples = list[tuple[str, dict[str, str], float]]


def scrape(url: str) -> Samples:
    response = requests.get(url, timeout=15)
    assert response.status_code == 200, f"{url}: {response.status_code} {response.text[:300]}"
    assert response.headers["Content-Type"].startswith("text/plain")
    return [
        (sample.name, sample.labels, sample.value)
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    ]


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum of ``name`` over the series whose labels include ``labels``."""
    return sum(v for n, have, v in samples if n == name and all(have.get(k) == w for k, w in labels.items()))


def series(samples: Samples, name: str, **labels: str) -> list[tuple[dict[str, str], float]]:
    return [(have, v) for n, have, v in samples if n == name and all(have.get(k) == w for k, w in labels.items())]


def endpoints(platform) -> dict[str, str]:
    """Every metrics endpoint of the platform under test: the Client App's web and each runconsumers."""
    urls = {"client web": f"{platform.api}/metrics"}
    urls |= {f"{s} runconsumers": f"http://127.0.0.1:{port}/metrics" for s, port in platform.metrics_ports.items()}
    for url in urls.values():
        stack.wait_http(url, timeout=60)
    return urls


def place(platform, http, count: int, start: int = 0) -> list[str]:
    menu = http.get(f"{platform.api}/api/menu/", timeout=10).json()
    ids = []
    for i in range(start, start + count):
        response = http.post(f"{platform.api}/api/orders/", json=order_request(i, menu), timeout=10)
        assert response.status_code == 201, response.text
        ids.append(response.json()["orderId"])
    return ids


def wait_delivered(platform, http, ids: list[str]) -> None:
    def delivered() -> bool:
        return all(
            http.get(f"{platform.api}/api/orders/{oid}/", timeout=10).json()["status"] == "DELIVERED" for oid in ids
        )

    wait_for(delivered, timeout=120, interval=0.5, what=f"{len(ids)} orders DELIVERED")


def test_every_endpoint_is_scraped_and_the_figures_move_with_real_orders(platform):
    urls = endpoints(platform)
    before = {name: scrape(url) for name, url in urls.items()}
    http = platform.session()
    count = 12
    ids = place(platform, http, count)
    wait_delivered(platform, http, ids)
    orders_topic, notifications_topic = ORDERS.full_name(platform.prefix), NOTIFICATIONS.full_name(platform.prefix)

    def moved(endpoint: str, name: str, **labels: str) -> float:
        return total(after[endpoint], name, **labels) - total(before[endpoint], name, **labels)

    # Lag reaches zero for every group once everything is consumed and committed.
    def settled() -> dict[str, Samples] | None:
        now = {name: scrape(url) for name, url in urls.items()}
        lags = [v for samples in now.values() for _, v in series(samples, "palmetto_consumer_lag")]
        return now if lags and not any(lags) else None

    after = wait_for(settled, timeout=60, interval=1, what="every consumer group's lag back to 0")

    # The web service: requests by route, method and status, with latency, summed over gunicorn's 2 workers.
    web = "client web"
    assert moved(web, "palmetto_http_requests_total", route="api/orders/", method="POST", status="201") == count
    assert moved(web, "palmetto_http_request_duration_seconds_count", route="api/orders/", method="POST") == count
    assert moved(web, "palmetto_http_requests_total", route="api/orders/<uuid:order_id>/", method="GET") >= count
    assert total(after[web], "palmetto_metrics_source_up", source="kafka") == 1
    assert total(after[web], "palmetto_metrics_source_up", source="database") == 1
    client_lag = series(after[web], "palmetto_consumer_lag", service="client", topic=notifications_topic)
    assert sorted(labels["partition"] for labels, _ in client_lag) == ["0", "1", "2"]

    # The kitchen consumed and applied every OrderPlaced and published 3 statuses per order.
    kitchen = "palmetto runconsumers"
    assert moved(kitchen, "palmetto_consumer_messages_consumed_total", topic=orders_topic) == count
    assert moved(kitchen, "palmetto_consumer_messages_applied_total", topic=orders_topic) == count
    assert moved(kitchen, "palmetto_consumer_batch_size_count") >= 1
    assert moved(kitchen, "palmetto_consumer_batch_size_sum") == count
    assert moved(kitchen, "palmetto_consumer_batch_duration_seconds_count") >= 1
    assert moved(kitchen, "palmetto_outbox_published_total", topic="notifications") == 3 * count
    assert moved(kitchen, "palmetto_outbox_publish_latency_seconds_count") == 3 * count
    assert total(after[kitchen], "palmetto_timers_due") == 0
    assert total(after[kitchen], "palmetto_timers_overdue") == 0
    assert total(after[kitchen], "palmetto_outbox_backlog_rows") == 0
    committed = series(after[kitchen], "palmetto_consumer_committed_offset", topic=orders_topic)
    ends = series(after[kitchen], "palmetto_consumer_end_offset", topic=orders_topic)
    assert sum(v for _, v in ends) >= count and sorted(committed, key=str) == sorted(ends, key=str)

    # The courier sees every notification (5 statuses and CashCollected per cash order), acts on
    # READY_FOR_DELIVERY only, and announces 2 statuses and the cash it collected per order.
    courier = "courier runconsumers"
    assert moved(courier, "palmetto_consumer_messages_consumed_total", topic=notifications_topic) == 6 * count
    assert moved(courier, "palmetto_consumer_messages_applied_total", topic=notifications_topic) == count
    assert moved(courier, "palmetto_outbox_published_total", topic="notifications") == 3 * count
    assert series(after[courier], "palmetto_timers_due")

    # The Client App applies the 5 statuses and the cash collection of each (cash) order and published
    # the OrderPlaced events.
    client = "client runconsumers"
    assert moved(client, "palmetto_consumer_messages_applied_total", topic=notifications_topic) == 6 * count
    assert moved(client, "palmetto_consumer_duplicates_skipped_total") == 0
    assert moved(client, "palmetto_consumer_dead_lettered_total") == 0
    assert moved(client, "palmetto_outbox_published_total", topic="orders") == count
    assert series(after[client], "palmetto_job_backlog_rows", job="mailer")


def test_a_stopped_consumers_lag_and_a_stopped_relays_backlog_show_on_the_web_processes(platform):
    urls = endpoints(platform)
    http = platform.session()
    orders_topic = ORDERS.full_name(platform.prefix)
    port, courier_port = free_port(), free_port()
    kitchen_web = stack.spawn_web("palmetto", port, platform.env, open(platform.logs / "palmetto-web.log", "a"))
    courier_web = stack.spawn_web("courier", courier_port, platform.env, open(platform.logs / "courier-web.log", "a"))
    try:
        kitchen = f"http://127.0.0.1:{port}/metrics"
        stack.wait_http(kitchen, timeout=60)
        # The courier's web process reports its own group (and nothing of the others).
        courier = f"http://127.0.0.1:{courier_port}/metrics"
        stack.wait_http(courier, timeout=60)
        courier_lag = series(scrape(courier), "palmetto_consumer_lag")
        assert {(labels["service"], labels["topic"]) for labels, _ in courier_lag} == {
            ("courier", NOTIFICATIONS.full_name(platform.prefix))}
        assert len(courier_lag) == 3
        assert platform.stop_consumers("client", "palmetto") == {"client": 0, "palmetto": 0}
        count = 6
        ids = place(platform, http, count)

        # The client's relay is stopped: the orders wait in its outbox, and its web process says so.
        client = scrape(urls["client web"])
        assert total(client, "palmetto_outbox_backlog_rows", service="client") == count
        assert total(client, "palmetto_outbox_oldest_unsent_age_seconds", service="client") > 0

        # The relay publishes them; the kitchen's consumer is stopped, and the kitchen's web process
        # reads its group's lag from the broker.
        platform.start_consumers("client")
        lag = wait_for(
            lambda: (v := total(scrape(kitchen), "palmetto_consumer_lag", service="palmetto", topic=orders_topic))
            == count and v,
            timeout=60, what=f"the kitchen group's lag on orders to reach {count}",
        )
        assert lag == count
        assert total(scrape(urls["client web"]), "palmetto_outbox_backlog_rows", service="client") == 0
        ends = series(scrape(kitchen), "palmetto_consumer_end_offset", topic=orders_topic)
        assert sorted(labels["partition"] for labels, _ in ends) == ["0", "1", "2"]

        platform.start_consumers("palmetto")
        wait_delivered(platform, http, ids)
        wait_for(
            lambda: total(scrape(kitchen), "palmetto_consumer_lag", service="palmetto") == 0,
            timeout=60, interval=1, what="the kitchen group's lag back to 0 after the restart",
        )
    finally:
        stack.stop_processes([kitchen_web, courier_web])


def test_metrics_endpoints_refuse_anonymous_clients_outside_the_allowed_networks(platform):
    """The web endpoint from an address outside PALMETTO_METRICS_ALLOWED_NETWORKS: 403 in the one error shape."""
    port = free_port()
    env = platform.env | {"PALMETTO_METRICS_ALLOWED_NETWORKS": "10.99.0.0/16"}
    web = stack.spawn_web("client", port, env, open(platform.logs / "client-web-closed.log", "a"))
    try:
        stack.wait_http(f"http://127.0.0.1:{port}/healthz", timeout=60)
        response = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
        assert response.status_code == 403 and response.json()["code"] == "forbidden"
    finally:
        stack.stop_processes([web])

"""Every Prometheus metric of the platform, defined in this one module, and how each process exposes them.

The rest of the code records through the small functions below (one line at each place that
counts something), so the Kafka plumbing knows nothing about Prometheus.

Two kinds of figures:

* **Counted as they happen** (counters and histograms): HTTP requests, messages consumed,
  applied, skipped as duplicates and dead-lettered, batch sizes and durations, relay
  publish latency, Kafka client replacements, worker restarts, emails sent.
* **Read when scraped** (gauges of :class:`StateCollector`): committed offset, end offset and lag
  of the service's consumer group per partition (from the broker, so a stopped consumer's lag
  still shows on every other process of the service), outbox backlog and the age of its
  oldest unsent row, durable timers due and overdue, and each background job's backlog (from
  the service's database).

Exposition: ``runconsumers`` serves ``/metrics`` on its own port (:func:`serve`); the web
services answer ``/metrics`` (:func:`metrics_view`) for staff or clients in
``PALMETTO_METRICS_ALLOWED_NETWORKS``. Gunicorn's workers are separate processes: its
config module (:mod:`common.gunicorn_hooks`) sets ``PROMETHEUS_MULTIPROC_DIR`` so
prometheus-client aggregates every worker's counters at each scrape.
"""

from __future__ import annotations

import logging
import os
import time
from collections import Counter as Tally
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily, Metric

log = logging.getLogger("palmetto.metrics")

# -- counted as they happen ----------------------------------------------------------------------

HTTP_REQUESTS = Counter(
    "palmetto_http_requests", "HTTP requests answered, by route pattern, method and status.",
    ["service", "route", "method", "status"],
)
HTTP_LATENCY = Histogram(
    "palmetto_http_request_duration_seconds", "Time to answer an HTTP request, by route pattern and method.",
    ["service", "route", "method"], buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
CONSUMED = Counter(
    "palmetto_consumer_messages_consumed", "Messages fetched from Kafka by a consumer.",
    ["service", "topic", "partition"],
)
APPLIED = Counter(
    "palmetto_consumer_messages_applied", "Messages whose handler ran in a batch transaction that committed "
    "(an attempt rolled back by a transient failure counts nothing).", ["service", "topic", "partition"],
)
DUPLICATES = Counter(
    "palmetto_consumer_duplicates_skipped", "Messages skipped because their event_id was already in the inbox.",
    ["service", "topic", "partition"],
)
DEAD_LETTERED = Counter(
    "palmetto_consumer_dead_lettered", "Messages sent to the dead-letter topic (acknowledged by Kafka).",
    ["service", "topic", "partition"],
)
BATCH_SIZE = Histogram(
    "palmetto_consumer_batch_size", "Messages per consumer batch (one database transaction).",
    ["service", "partition"], buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500),
)
BATCH_DURATION = Histogram(
    "palmetto_consumer_batch_duration_seconds", "From fetching a batch to its transaction's commit, retries included.",
    ["service", "partition"], buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
RELAY_PUBLISHED = Counter(
    "palmetto_outbox_published", "Outbox rows Kafka acknowledged.", ["service", "topic"],
)
RELAY_LATENCY = Histogram(
    "palmetto_outbox_publish_latency_seconds", "From an outbox row's creation to Kafka's acknowledgement.",
    ["service"], buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
CLIENT_REPLACEMENTS = Counter(
    "palmetto_kafka_client_replacements", "Kafka clients given up on and replaced because they stopped making "
    "progress.", ["service", "client"],
)
WORKER_RESTARTS = Counter(
    "palmetto_worker_restarts", "Worker threads restarted by runconsumers' supervisor after dying.",
    ["service", "worker"],
)
EMAILS_SENT = Counter(
    "palmetto_emails_sent", "Customer emails the mail server accepted, by order status.", ["service", "status"],
)
EMAIL_FAILURES = Counter(
    "palmetto_email_send_failures", "Attempts to send a customer email that failed (retried later).", ["service"],
)

# -- read when scraped (names of StateCollector's families) -------------------------------------------

COMMITTED_OFFSET = "palmetto_consumer_committed_offset"
END_OFFSET = "palmetto_consumer_end_offset"
LAG = "palmetto_consumer_lag"
OUTBOX_BACKLOG = "palmetto_outbox_backlog_rows"
OUTBOX_OLDEST_AGE = "palmetto_outbox_oldest_unsent_age_seconds"
TIMERS_DUE = "palmetto_timers_due"
TIMERS_OVERDUE = "palmetto_timers_overdue"
JOB_BACKLOG = "palmetto_job_backlog_rows"
JOB_OLDEST_AGE = "palmetto_job_oldest_pending_age_seconds"
SOURCE_UP = "palmetto_metrics_source_up"

# A timer this long past its moment is overdue: the timer loop is not keeping up (or not running).
OVERDUE_AFTER = timedelta(seconds=5)


def metric_names() -> set[str]:
    """Every sample name this module can expose (counters with ``_total``, histograms with their series)."""
    names = {COMMITTED_OFFSET, END_OFFSET, LAG, OUTBOX_BACKLOG, OUTBOX_OLDEST_AGE, TIMERS_DUE, TIMERS_OVERDUE,
             JOB_BACKLOG, JOB_OLDEST_AGE, SOURCE_UP}
    for metric in (HTTP_REQUESTS, CONSUMED, APPLIED, DUPLICATES, DEAD_LETTERED, RELAY_PUBLISHED,
                   CLIENT_REPLACEMENTS, WORKER_RESTARTS, EMAILS_SENT, EMAIL_FAILURES):
        names |= {metric._name + "_total", metric._name + "_created"}
    for metric in (HTTP_LATENCY, BATCH_SIZE, BATCH_DURATION, RELAY_LATENCY):
        names |= {metric._name + suffix for suffix in ("_bucket", "_sum", "_count", "_created")}
    return names


def service_name() -> str:
    """The service this process runs (``settings.PALMETTO_SERVICE``), for processes that record without one."""
    spec = getattr(settings, "PALMETTO_SERVICE", None)
    return spec.name if spec is not None else "none"


# -- recording: one call at each place that counts ------------------------------------------------


def _partition_labels(service: str, message: Any) -> tuple[str, str, str]:
    return service, message.topic(), str(message.partition())


def _count_by_partition(counter: Counter, service: str, messages: Iterable[Any]) -> None:
    # One labelled increment per partition of a batch, not one per message (this runs for every batch).
    for labels, count in Tally(_partition_labels(service, message) for message in messages).items():
        counter.labels(*labels).inc(count)


def consumed(service: str, batch: Iterable[Any]) -> None:
    _count_by_partition(CONSUMED, service, batch)


def applied(service: str, messages: Iterable[Any]) -> None:
    """``messages`` of a batch were applied (its transaction committed)."""
    _count_by_partition(APPLIED, service, messages)


def duplicate_skipped(service: str, messages: Iterable[Any]) -> None:
    """``messages`` of a batch were in the inbox already."""
    _count_by_partition(DUPLICATES, service, messages)


def dead_lettered(service: str, letters: Iterable[Any]) -> None:
    """``letters``: the consumer's rejected messages (each with ``.message``), after Kafka acknowledged them."""
    for letter in letters:
        DEAD_LETTERED.labels(*_partition_labels(service, letter.message)).inc()


def batch_done(service: str, partition: int, size: int, started: float) -> None:
    """A batch was applied in a committed transaction; ``started``: ``time.monotonic()`` when it was fetched."""
    BATCH_SIZE.labels(service, str(partition)).observe(size)
    BATCH_DURATION.labels(service, str(partition)).observe(time.monotonic() - started)


def relay_published(rows: Iterable[Any], sent: Iterable[int]) -> None:
    """Outbox ``rows`` of which the ids in ``sent`` were acknowledged now."""
    service, now, acknowledged = service_name(), timezone.now(), set(sent)
    for row in rows:
        if row.id in acknowledged:
            RELAY_PUBLISHED.labels(service, row.topic).inc()
            RELAY_LATENCY.labels(service).observe(max(0.0, (now - row.created_at).total_seconds()))


def client_replaced(service: str, client: str) -> None:
    CLIENT_REPLACEMENTS.labels(service, client).inc()


def worker_restarted(worker: str) -> None:
    WORKER_RESTARTS.labels(service_name(), worker).inc()


def email_sent(status: str) -> None:
    EMAILS_SENT.labels(service_name(), status).inc()


def email_failed() -> None:
    EMAIL_FAILURES.labels(service_name()).inc()


class RequestMetricsMiddleware:
    """Counts and times every HTTP request by its URL pattern (never the raw path: ids would explode the
    label set), method and status."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        route = match.route if match is not None and match.route else "unmatched"
        service = service_name()
        HTTP_LATENCY.labels(service, route, request.method).observe(time.perf_counter() - started)
        HTTP_REQUESTS.labels(service, route, request.method, str(response.status_code)).inc()
        return response


# -- read when scraped ---------------------------------------------------------------------------


class StateCollector:
    """Gauges read at scrape time: the service group's offsets and lag from the broker, and the
    outbox, timers and job backlogs from the service's database.

    ``partitions`` limits the lag to the partitions this process consumes (None: all). A source
    that cannot be read (broker or database down) is left out of the scrape and reported as
    ``palmetto_metrics_source_up{source=...} 0``, so the scrape itself never fails.
    """

    def __init__(self, *, partitions: Iterable[int] | None = None, own_connection: bool = False) -> None:
        self.partitions = None if partitions is None else set(partitions)
        self.own_connection = own_connection  # runconsumers' metrics thread: close its connection after

    def collect(self) -> Iterator[Metric]:
        service = service_name()
        up = GaugeMetricFamily(SOURCE_UP, "Whether a source of scrape-time metrics could be read (1) or not.",
                               labels=["service", "source"])
        for source, read in (("kafka", self._kafka), ("database", self._database)):
            try:
                families = list(read(service))
            except Exception as exc:
                log.warning("metrics: cannot read %s: %s", source, exc)
                up.add_metric([service, source], 0)
                continue
            up.add_metric([service, source], 1)
            yield from families
        yield up

    def _kafka(self, service: str) -> Iterator[Metric]:
        from common.kafka.lag import group_lag
        from common.topics import TOPICS, consumer_group

        config = settings.PALMETTO_CONFIG
        if not config.kafka_bootstrap_servers:
            return
        topics = [t.full_name(config.topic_prefix) for t in TOPICS if service in t.consumers]
        if not topics:
            return
        lag = group_lag(config.kafka_bootstrap_servers, consumer_group(config.topic_prefix, service), topics,
                        timeout=3.0)
        labels = ["service", "topic", "partition"]
        committed = GaugeMetricFamily(COMMITTED_OFFSET, "The consumer group's committed offset (-1: none yet).",
                                      labels=labels)
        end = GaugeMetricFamily(END_OFFSET, "The partition's end offset (high watermark).", labels=labels)
        behind = GaugeMetricFamily(LAG, "Messages the service's consumer group has yet to consume.", labels=labels)
        for p in lag.partitions:
            if self.partitions is not None and p.partition not in self.partitions:
                continue
            values = [service, p.topic, str(p.partition)]
            committed.add_metric(values, -1 if p.committed is None else p.committed)
            end.add_metric(values, p.end)
            behind.add_metric(values, p.lag)
        yield from (committed, end, behind)

    def _database(self, service: str) -> Iterator[Metric]:
        from django.db import connection
        from django.db.models import Count, Min

        from common.declaration import current_service

        try:
            declared = current_service()
            now = timezone.now()
            unsent = declared.outbox.objects.filter(sent_at__isnull=True)
            stats = unsent.aggregate(rows=Count("pk"), oldest=Min("created_at"))  # one query for both
            families = [
                _gauge(OUTBOX_BACKLOG, "Outbox rows not yet acknowledged by Kafka.", service, stats["rows"]),
                _gauge(OUTBOX_OLDEST_AGE, "Age of the oldest unsent outbox row (0: none).", service,
                       _age(now, stats["oldest"])),
            ]
            if declared.timers_due is not None:
                families += [
                    _gauge(TIMERS_DUE, "Durable timers whose moment has come, not yet fired.", service,
                           declared.timers_due(now)),
                    _gauge(TIMERS_OVERDUE, f"Durable timers more than {OVERDUE_AFTER.seconds}s past their moment.",
                           service, declared.timers_due(now - OVERDUE_AFTER)),
                ]
            backlog = GaugeMetricFamily(JOB_BACKLOG, "Rows a background job has yet to handle.",
                                        labels=["service", "job"])
            oldest = GaugeMetricFamily(JOB_OLDEST_AGE, "Age of the oldest row a background job has yet to handle.",
                                       labels=["service", "job"])
            for job in declared.jobs:
                rows, since = job.backlog()
                backlog.add_metric([service, job.name], rows)
                oldest.add_metric([service, job.name], _age(now, since))
            return [*families, backlog, oldest]
        finally:
            if self.own_connection:
                connection.close()


def _gauge(name: str, documentation: str, service: str, value: float) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation, labels=["service"])
    family.add_metric([service], value)
    return family


def _age(now: datetime, since: datetime | None) -> float:
    return 0.0 if since is None else max(0.0, (now - since).total_seconds())


class _Union:
    """A collector yielding the process's counted metrics and the scrape-time state."""

    def __init__(self, *collectors: Any) -> None:
        self.collectors = collectors

    def collect(self) -> Iterator[Metric]:
        for collector in self.collectors:
            yield from collector.collect()


def scrape_registry(state: StateCollector) -> CollectorRegistry:
    """What one scrape exposes: this process's metrics -- or, under gunicorn, every worker's, aggregated from
    ``PROMETHEUS_MULTIPROC_DIR`` -- plus ``state``."""
    counted = multiprocess.MultiProcessCollector(None) if os.environ.get("PROMETHEUS_MULTIPROC_DIR") else REGISTRY
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Union(counted, state))
    return registry


def serve(port: int, *, partitions: Iterable[int]) -> bool:
    """``runconsumers``: serve ``/metrics`` on ``port`` (all interfaces) from a daemon thread.

    A port that cannot be bound is logged, not fatal: consuming matters more than being watched.
    """
    try:
        start_http_server(port, registry=scrape_registry(StateCollector(partitions=partitions, own_connection=True)))
    except OSError as exc:
        log.error("metrics: cannot serve on port %d (%s); running without a metrics endpoint", port, exc)
        return False
    log.info("metrics: serving Prometheus metrics on port %d", port)
    return True


def _allowed(request: HttpRequest) -> bool:
    import ipaddress

    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated and user.is_staff:
        return True
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(address in network for network in settings.PALMETTO_CONFIG.metrics_allowed_networks)


def metrics_view(request: HttpRequest) -> HttpResponse:
    """``GET /metrics``: Prometheus text format, for staff (session) or clients in the allowed networks."""
    from common.http import error_body

    if not _allowed(request):
        return JsonResponse(
            error_body(403, "forbidden", "Metrics are for staff or the networks in PALMETTO_METRICS_ALLOWED_NETWORKS"),
            status=403,
        )
    return HttpResponse(generate_latest(scrape_registry(StateCollector())), content_type=CONTENT_TYPE_LATEST)

"""Run one service's Kafka workers on a worker host.

Why it exists: the customer pins partitions -- three consumers assigned to
partitions 0, 1 and 2 of each topic the service consumes (``assign()``, no
group rebalancing) -- so something has to own those consumers, restart one
that dies, and stop them cleanly. This command does that, alongside the
service's outbox relay and its durable timers.

    python manage.py runconsumers --settings=palmetto_app.settings
    python manage.py runconsumers --settings=palmetto_app.settings --partitions 0,1   # host A
    python manage.py runconsumers --settings=palmetto_app.settings --partitions 2     # host B

SIGTERM/SIGINT: each consumer finishes the batch in hand, commits its offsets
and closes, exit status 0; a second signal exits at once with 1 (redelivery
is harmless). Exit status 3 means it stopped because it cannot make progress
(most recent messages invalid, or a worker that keeps dying).

``PALMETTO_WORKER_NICE`` lowers its CPU priority, for a host it shares with
the Client API (:mod:`common.priority`).
"""

from __future__ import annotations

import logging
import signal
import sys

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from common import metrics
from common.kafka.consumer import PartitionConsumer
from common.kafka.producer import Producer
from common.management.kafka import bootstrap_servers, this_service
from common.outbox import OutboxRelay
from common.priority import lower_cpu_priority
from common.topics import PARTITIONS
from common.workers import Supervisor, TickLoop

log = logging.getLogger("palmetto.runconsumers")

# Distinct from 1 (a crash) so a process manager can tell "look at me" from "restart me".
EXIT_CANNOT_PROGRESS = 3


def parse_partitions(raw: str) -> list[int]:
    try:
        partitions = sorted({int(p) for p in raw.split(",") if p.strip()})
    except ValueError:
        raise CommandError(f"--partitions {raw!r}: give partition numbers like 0,1,2") from None
    if not partitions or any(p not in range(PARTITIONS) for p in partitions):
        raise CommandError(f"--partitions {raw!r}: choose from 0..{PARTITIONS - 1}")
    return partitions


class Command(BaseCommand):
    help = "Run this service's pinned-partition consumers, outbox relay and timers until SIGTERM/SIGINT."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--partitions", default=",".join(str(p) for p in range(PARTITIONS)),
            help="Comma-separated partitions this host consumes (default: all). Split them across hosts.",
        )
        parser.add_argument("--batch-size", type=int, default=200, help="Messages per database transaction.")
        parser.add_argument(
            "--metrics-port", type=int, default=None,
            help="Serve Prometheus metrics on this port (default: PALMETTO_<SERVICE>_METRICS_PORT; 0: none).",
        )

    def handle(self, *args, **options) -> None:
        bootstrap = bootstrap_servers()
        partitions = parse_partitions(options["partitions"])
        service = this_service()
        config = settings.PALMETTO_CONFIG
        # Before any thread starts (librdkafka's too): each inherits its creator's priority.
        lower_cpu_priority(config.worker_nice)
        prefix = settings.PALMETTO_CONFIG.topic_prefix

        def producer(role: str) -> Producer:
            return Producer(
                bootstrap, client_id=f"{service.name}-{role}", message_timeout_ms=config.kafka_message_timeout_ms
            )

        dead_letters = producer("dlt")
        workers = [
            PartitionConsumer(
                service=service.name,
                subscriptions=service.subscriptions,
                inbox=service.inbox,
                partition=p,
                bootstrap_servers=bootstrap,
                topic_prefix=prefix,
                dead_letters=dead_letters,
                publisher=service.publisher,
                batch_size=options["batch_size"],
                crash_before_offset_commit=config.crash_before_offset_commit,
            )
            for p in partitions
        ]
        workers.append(OutboxRelay(service.outbox, producer("relay"), topic_prefix=prefix))
        if service.ticks:
            workers.append(TickLoop(service.ticks, next_due=service.next_due))
        workers += [
            TickLoop((job.tick,), name=job.name, idle_seconds=1.0, channel=None, full=1) for job in service.jobs
        ]
        metrics_port = options["metrics_port"]
        if metrics_port is None:
            metrics_port = config.metrics_ports[service.name]
        if metrics_port:
            metrics.serve(metrics_port, partitions=partitions)
        supervisor = Supervisor(workers)
        signal.signal(signal.SIGTERM, supervisor.on_signal)
        signal.signal(signal.SIGINT, supervisor.on_signal)
        log.info(
            "%s: consuming partitions %s of %s",
            service.name,
            partitions,
            [s.topic.full_name(prefix) for s in service.subscriptions],
        )
        supervisor.run()
        if supervisor.fatal:
            log.critical("%s: stopped because it cannot make progress: %s", service.name, supervisor.fatal)
            sys.exit(EXIT_CANNOT_PROGRESS)
        log.info("%s: stopped cleanly", service.name)

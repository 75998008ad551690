"""The threads a worker host runs, and the supervisor that keeps them alive.

``runconsumers`` builds one :class:`PartitionConsumer` per pinned partition,
one :class:`~common.outbox.OutboxRelay` and one :class:`TickLoop`, and hands them to
:class:`Supervisor`. Pinned partitions have no group failover, so a worker
that dies is restarted here, after a back-off, rather than by Kafka.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Protocol, Sequence

from django.db import close_old_connections, connection

from common.kafka.consumer import Backoff
from common.service import Tick

log = logging.getLogger("palmetto.workers")


class Worker(Protocol):
    name: str

    def run(self, stop: threading.Event) -> None: ...


class TickLoop:
    """Runs the service's durable-timer ticks until stopped; each tick does what is due now."""

    name = "timers"

    def __init__(self, ticks: Sequence[Tick], idle_seconds: float = 0.1) -> None:
        self.ticks = ticks
        self.idle_seconds = idle_seconds

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            close_old_connections()
            done = sum(tick() for tick in self.ticks)
            if not done:
                stop.wait(self.idle_seconds)


@dataclass
class _Slot:
    worker: Worker
    thread: threading.Thread | None = None
    failures: int = 0
    restart_at: float = 0.0


class Supervisor:
    """Runs each worker in its own thread and restarts any that dies until :meth:`stop`."""

    def __init__(self, workers: Sequence[Worker], backoff: Backoff = Backoff(first=1.0, cap=30.0)) -> None:
        self.stop_event = threading.Event()
        self.slots = [_Slot(w) for w in workers]
        self.backoff = backoff

    def _target(self, slot: _Slot) -> None:
        try:
            slot.worker.run(self.stop_event)
        except Exception:
            slot.failures += 1
            log.exception("worker %s died (failure %d)", slot.worker.name, slot.failures)
        finally:
            connection.close()

    def _start(self, slot: _Slot) -> None:
        slot.thread = threading.Thread(target=self._target, args=(slot,), name=slot.worker.name, daemon=True)
        slot.thread.start()

    def run(self) -> None:
        """Start every worker and watch them until :meth:`stop`; then wait for all to finish."""
        for slot in self.slots:
            self._start(slot)
        while not self.stop_event.wait(0.5):
            for slot in self.slots:
                if slot.thread is not None and not slot.thread.is_alive():
                    delay = self.backoff.delay(slot.failures)
                    log.warning("restarting %s in %.1fs", slot.worker.name, delay)
                    slot.thread, slot.restart_at = None, time.monotonic() + delay
                if slot.thread is None and time.monotonic() >= slot.restart_at:
                    self._start(slot)
        for slot in self.slots:
            if slot.thread is not None:
                slot.thread.join()

    def stop(self) -> None:
        self.stop_event.set()

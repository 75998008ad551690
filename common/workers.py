"""The threads a worker host runs, and the supervisor that keeps them alive.

``runconsumers`` builds one :class:`PartitionConsumer` per pinned partition,
one :class:`~common.outbox.OutboxRelay` and one :class:`TickLoop`, and hands them to
:class:`Supervisor`. Pinned partitions have no group failover, so a worker
that dies is restarted here, after a back-off, rather than by Kafka.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from django.db import close_old_connections, connection

from common import metrics
from common.db import TIMERS_CHANNEL, Wakeup, backend_pid, drop_broken_connection
from common.declaration import Tick
from common.errors import ConsumerHalted
from common.kafka.consumer import Backoff

log = logging.getLogger("palmetto.workers")

# Exit status after a second stop signal: not 0 (work in hand was abandoned), distinct from a crash.
EXIT_FORCED = 1


class Worker(Protocol):
    name: str

    def run(self, stop: threading.Event) -> None: ...


def poll_loop(name: str, step: Callable[[], int], stop: threading.Event, idle_seconds: float,
              backoff: Backoff = Backoff(), wakeup: Wakeup | None = None,
              next_due: Callable[[], float | None] | None = None, full: int = 1) -> None:
    """Call ``step`` until ``stop``. A step that did ``full`` or more (a full batch: more may be
    waiting) is followed by the next at once; otherwise the loop sleeps until ``wakeup`` is
    notified, ``next_due()`` seconds pass (work known to fall due then), or at most
    ``idle_seconds`` (the safety-net poll). By default (``full=1``) any step that did work is
    followed by the next at once; a loop with a ``wakeup`` passes its batch size.

    Work is not left behind by sleeping after a partial batch: whatever was written during the
    step notified ``wakeup`` (a notification waits on the listening connection until read), and
    timers falling due later are what ``next_due`` is for. Under load, work is gathered into
    bigger batches: a notification that comes soon after a step that found more than one item
    (work arriving faster than the loop steps) is followed by a wait of ``COALESCE_SECONDS``.
    Work that comes one item at a time, at rest or at a steady moderate rate, is handled at once:
    waiting then gathers nothing and only adds the wait to a hop of the order's lifecycle.

    A failing step (database down, broker unreachable) is retried after
    exponential back-off; like a consumer's batch, the work is never skipped.
    """
    try:
        _poll(name, step, stop, idle_seconds, backoff, wakeup, next_due, full)
    finally:
        if wakeup is not None:
            wakeup.close()


# How long a busy loop lets work gather before its next step, and what counts as busy recently.
COALESCE_SECONDS, BUSY_WINDOW_SECONDS = 0.01, 0.25


def _poll(name, step, stop, idle_seconds, backoff, wakeup, next_due, full) -> None:
    attempt = 0
    worked_at = -BUSY_WINDOW_SECONDS
    while not stop.is_set():
        close_old_connections()
        try:
            done = step()
            attempt = 0
        except Exception:
            attempt += 1
            delay = backoff.delay(attempt)
            log.exception("%s failed (attempt %d); retrying in %.1fs", name, attempt, delay)
            drop_broken_connection()
            stop.wait(delay)
            continue
        if done:
            worked_at = time.monotonic()
            if done >= full:
                stop.wait(COALESCE_SECONDS)
                continue
        timeout = idle_seconds
        if next_due is not None:
            try:
                due = next_due()
            except Exception:
                log.exception("%s: cannot read when work falls due next", name)
                due = None
            if due is not None:
                # A floor: work due but not taken (locked by another host) must not spin this loop.
                timeout = min(timeout, max(0.05, due))
        if wakeup is None:
            stop.wait(timeout)
        elif wakeup.wait(stop, timeout) and done > 1 and time.monotonic() - worked_at < BUSY_WINDOW_SECONDS:
            stop.wait(COALESCE_SECONDS)


# How many timers a tick takes at most (the ``limit`` of the services' ticks).
TICK_LIMIT = 100


class TickLoop:
    """Runs ticks until stopped; each tick does what is due now and returns how much it did.

    The service's durable timers (the default) sleep until ``next_due()`` seconds pass (None: no
    timer set) and are woken early by ``channel`` (:data:`~common.db.TIMERS_CHANNEL`) when another
    connection sets a timer (what the ticks set themselves, ``next_due()`` finds). A declared
    :class:`~common.declaration.Job` (the mailer) runs as a loop of its own with no channel: its
    work is not urgent enough for one, and one cheap query per ``idle_seconds`` costs nothing at
    rest.
    """

    def __init__(self, ticks: Sequence[Tick], *, name: str = "timers", idle_seconds: float = 5.0,
                 next_due: Callable[[], float | None] | None = None, channel: str | None = TIMERS_CHANNEL,
                 full: int = TICK_LIMIT) -> None:
        """``full``: a tick that did this much may have left work due, so the next runs at once (see
        :func:`poll_loop`); the ticks' own batch size."""
        self.ticks = ticks
        self.name = name
        self.idle_seconds = idle_seconds
        self.next_due = next_due
        self.channel = channel
        self.full = full

    def run(self, stop: threading.Event) -> None:
        poll_loop(self.name, lambda: sum(tick() for tick in self.ticks), stop, self.idle_seconds,
                  wakeup=Wakeup(self.channel, ignore_pid=backend_pid) if self.channel else None,
                  next_due=self.next_due, full=self.full)


@dataclass
class _Slot:
    worker: Worker
    thread: threading.Thread | None = None
    failures: int = 0  # consecutive: reset once the worker has run for a while
    started_at: float = 0.0
    restart_at: float = 0.0


class Supervisor:
    """Runs each worker in its own thread and restarts any that dies, until :meth:`stop`.

    Gives up -- stops everything and records :attr:`fatal` -- when a worker
    raises :class:`ConsumerHalted`, or dies ``max_failures`` times in a row
    (a run longer than ``healthy_after`` seconds resets the count), because
    then restarting cannot make progress and the process should exit non-zero.
    """

    def __init__(
        self,
        workers: Sequence[Worker],
        backoff: Backoff = Backoff(first=1.0, cap=30.0),
        max_failures: int = 10,
        healthy_after: float = 60.0,
    ) -> None:
        self.stop_event = threading.Event()
        self.slots = [_Slot(w) for w in workers]
        self.backoff = backoff
        self.max_failures = max_failures
        self.healthy_after = healthy_after
        self.fatal: str | None = None

    def _target(self, slot: _Slot) -> None:
        try:
            slot.worker.run(self.stop_event)
        except ConsumerHalted as exc:
            log.critical("%s halted: %s", slot.worker.name, exc)
            self._give_up(str(exc))
        except Exception:
            if time.monotonic() - slot.started_at > self.healthy_after:
                slot.failures = 0
            slot.failures += 1
            log.exception("worker %s died (failure %d in a row)", slot.worker.name, slot.failures)
            if slot.failures >= self.max_failures:
                self._give_up(f"{slot.worker.name} died {slot.failures} times in a row")
        finally:
            connection.close()

    def _give_up(self, reason: str) -> None:
        self.fatal = self.fatal or reason
        self.stop_event.set()

    def _start(self, slot: _Slot) -> None:
        slot.started_at = time.monotonic()
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
                    metrics.worker_restarted(slot.worker.name)
                    slot.thread, slot.restart_at = None, time.monotonic() + delay
                if slot.thread is None and time.monotonic() >= slot.restart_at:
                    self._start(slot)
        for slot in self.slots:
            if slot.thread is not None:
                slot.thread.join()

    def stop(self) -> None:
        self.stop_event.set()

    def on_signal(self, signum: int, _frame: object = None) -> None:
        """SIGTERM/SIGINT handler: the first asks every worker to finish the work in hand and stop;
        a second exits at once with :data:`EXIT_FORCED` -- safe, because whatever was not
        committed is redelivered and the inboxes absorb it."""
        name = signal.Signals(signum).name
        if self.stop_event.is_set():
            log.warning("second %s: exiting now", name)
            os._exit(EXIT_FORCED)
        log.info("%s: finishing the work in hand, then stopping", name)
        self.stop()

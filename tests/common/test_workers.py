"""The supervisor that keeps a worker host's threads alive, and the retrying poll loop (no broker needed)."""

from __future__ import annotations

import itertools
import signal
import threading
import time

import pytest

from common import workers
from common.errors import ConsumerHalted
from common.kafka.consumer import Backoff
from common.workers import COALESCE_SECONDS, EXIT_FORCED, Supervisor, poll_loop

FAST = Backoff(first=0.01, cap=0.05)


class Flaky:
    """Dies ``deaths`` times, then runs until stopped, counting its starts."""

    def __init__(self, name: str, deaths: int, error: Exception | None = None) -> None:
        self.name, self.deaths, self.error = name, deaths, error or RuntimeError("boom")
        self.starts = 0
        self.running = threading.Event()

    def run(self, stop: threading.Event) -> None:
        self.starts += 1
        if self.starts <= self.deaths:
            raise self.error
        self.running.set()
        stop.wait()


def supervise(supervisor: Supervisor) -> threading.Thread:
    thread = threading.Thread(target=supervisor.run, daemon=True)
    thread.start()
    return thread


def test_a_worker_that_dies_is_restarted_and_the_others_keep_running():
    dying, steady = Flaky("dying", deaths=2), Flaky("steady", deaths=0)
    supervisor = Supervisor([dying, steady], backoff=FAST)
    thread = supervise(supervisor)
    assert dying.running.wait(10), "the dying worker was not restarted until it ran"
    assert steady.starts == 1
    supervisor.stop()
    thread.join(10)
    assert not thread.is_alive()
    assert dying.starts == 3 and supervisor.fatal is None


def test_a_worker_that_keeps_dying_makes_the_supervisor_give_up():
    hopeless, steady = Flaky("hopeless", deaths=10**6), Flaky("steady", deaths=0)
    supervisor = Supervisor([hopeless, steady], backoff=FAST, max_failures=3)
    thread = supervise(supervisor)
    thread.join(15)
    assert not thread.is_alive(), "the supervisor kept restarting a worker that cannot run"
    assert hopeless.starts == 3
    assert supervisor.fatal == "hopeless died 3 times in a row"
    assert steady.running.is_set()  # it was running, and was stopped with everything else


def test_a_halted_consumer_stops_everything_at_once_without_restarts():
    halted = Flaky("consumer-p0", deaths=10**6, error=ConsumerHalted("most recent messages were invalid"))
    steady = Flaky("relay", deaths=0)
    supervisor = Supervisor([halted, steady], backoff=FAST)
    thread = supervise(supervisor)
    thread.join(10)
    assert not thread.is_alive()
    assert halted.starts == 1
    assert supervisor.fatal == "most recent messages were invalid"


def test_first_signal_stops_cleanly_second_exits_at_once(monkeypatch):
    exits: list[int] = []
    monkeypatch.setattr(workers.os, "_exit", exits.append)
    steady = Flaky("steady", deaths=0)
    supervisor = Supervisor([steady], backoff=FAST)
    supervisor.on_signal(signal.SIGTERM)
    assert supervisor.stop_event.is_set() and exits == []
    supervisor.on_signal(signal.SIGINT)
    assert exits == [EXIT_FORCED]


# poll_loop resets stale database connections around each step, so it needs the test database.
@pytest.mark.django_db
def test_poll_loop_retries_a_failing_step_with_backoff_and_never_skips_it():
    calls: list[float] = []
    stop = threading.Event()

    def step() -> int:
        calls.append(time.monotonic())
        if len(calls) <= 3:
            raise ConnectionError("database is restarting")
        stop.set()
        return 1

    poll_loop("test", step, stop, idle_seconds=5, backoff=Backoff(first=0.05, cap=0.1))
    assert len(calls) == 4  # three failures, each retried, then success
    gaps = [later - earlier for earlier, later in itertools.pairwise(calls)]
    assert gaps[0] >= 0.05 and gaps[1] >= 0.1 and gaps[2] >= 0.1  # 0.05, 0.1, then capped at 0.1


def scripted_step(results: list[int], stop: threading.Event, calls: list[float]):
    """A poll_loop step that does ``results`` in turn, noting when it ran in ``calls``, then sets ``stop``."""
    remaining = iter(results)

    def step() -> int:
        calls.append(time.monotonic())
        result = next(remaining, None)
        if result is None:
            stop.set()
            return 0
        return result

    return step


# poll_loop resets stale database connections around each step, so it needs the test database.
@pytest.mark.django_db
def test_poll_loop_runs_again_at_once_while_there_is_work_and_idles_when_there_is_none():
    stop, calls = threading.Event(), []
    step = scripted_step([5, 5, 0], stop, calls)
    poll_loop("test", step, stop, idle_seconds=0.3)
    assert len(calls) == 4
    assert calls[2] - calls[0] < 0.25  # no idle wait after steps that did work
    assert calls[3] - calls[2] >= 0.3  # an idle wait after the step that found nothing


# poll_loop resets stale database connections around each step, so it needs the test database.
@pytest.mark.django_db
def test_poll_loop_runs_again_at_once_only_after_a_full_batch_when_it_is_told_what_full_is():
    stop, calls = threading.Event(), []
    step = scripted_step([5, 2, 0], stop, calls)
    # A partial batch leaves nothing behind: what arrives meanwhile notifies the loop's wakeup, and
    # later timers are next_due's; so after one the loop sleeps until woken (here: the idle poll).
    poll_loop("test", step, stop, idle_seconds=0.3, full=5)
    assert len(calls) == 4
    assert calls[1] - calls[0] < 0.25  # a full batch: the next step at once
    assert calls[2] - calls[1] >= 0.3  # a partial one: wait
    assert calls[3] - calls[2] >= 0.3


class _AlwaysWoken:
    """A wakeup that reports a notification each time it is waited on."""

    def wait(self, stop: threading.Event, timeout: float) -> bool:
        return True

    def close(self) -> None:
        pass


class _RecordingStop(threading.Event):
    """A stop event that notes how long each wait on it was asked to take."""

    def __init__(self) -> None:
        super().__init__()
        self.waits: list[float | None] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(timeout)
        return super().wait(timeout)


# poll_loop resets stale database connections around each step, so it needs the test database.
@pytest.mark.django_db
def test_a_woken_loop_lets_work_gather_only_after_a_step_that_found_more_than_one_item():
    stop, calls = _RecordingStop(), []
    step = scripted_step([1, 1, 3, 1], stop, calls)
    poll_loop("test", step, stop, idle_seconds=5, wakeup=_AlwaysWoken(), full=500)
    assert len(calls) == 5
    # One item at a time: each notification is acted on at once (a wait would only add latency).
    # After the step that found three: one wait of COALESCE_SECONDS, so that more can gather.
    assert stop.waits == [COALESCE_SECONDS]


@pytest.mark.parametrize("attempt, delay", [(1, 0.2), (2, 0.4), (3, 0.8), (6, 6.4), (7, 10.0), (50, 10.0)])
def test_backoff_doubles_from_the_first_delay_up_to_the_cap(attempt, delay):
    assert Backoff().delay(attempt) == pytest.approx(delay)

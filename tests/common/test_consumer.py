"""The consumer loop's pieces that need no broker: the poison-flood guard, the subscription filter and
the offset-commit retry policy (against a stand-in client)."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from confluent_kafka import KafkaError, KafkaException

from client_app.orders.declaration import SERVICE as CLIENT
from common.events import OrderStatusChanged
from common.kafka.consumer import Backoff, ClientStuck, FailureGuard, PartitionConsumer, Subscription
from common.lifecycle import Status
from common.topics import NOTIFICATIONS
from tests.support.factories import status_changed


def test_a_poison_message_now_and_then_never_trips_the_guard():
    guard = FailureGuard(window=50, min_invalid=10, max_ratio=0.5)
    for _ in range(100):
        guard.observe(messages=10, invalid=1)
    assert not guard.tripped


def test_mostly_invalid_recent_messages_trip_the_guard():
    guard = FailureGuard(window=50, min_invalid=10, max_ratio=0.5)
    guard.observe(messages=40, invalid=0)
    guard.observe(messages=12, invalid=12)
    assert not guard.tripped  # 12 bad of the last 50: a bad patch, not most
    guard.observe(messages=20, invalid=20)
    assert guard.tripped  # 32 bad of the last 50


def test_a_few_invalid_messages_on_a_quiet_partition_do_not_trip_the_guard():
    guard = FailureGuard(window=50, min_invalid=10, max_ratio=0.5)
    guard.observe(messages=9, invalid=9)
    assert not guard.tripped  # all bad, but fewer than min_invalid: dead-letter them
    guard.observe(messages=1, invalid=1)
    assert guard.tripped


def test_a_subscription_hands_over_only_what_it_wants():
    def handler(_):
        return None

    subscription = Subscription(
        NOTIFICATIONS, {OrderStatusChanged: handler}, wants=lambda e: e.payload.status == Status.READY_FOR_DELIVERY
    )
    oid = uuid.uuid4()
    assert subscription.handler_for(status_changed(oid, "c", Status.READY_FOR_DELIVERY, 3)) is handler
    assert subscription.handler_for(status_changed(oid, "c", Status.ACCEPTED, 1)) is None


class _Message:
    def __init__(self, topic: str, offset: int) -> None:
        self._topic, self._offset = topic, offset

    def topic(self) -> str:
        return self._topic

    def offset(self) -> int:
        return self._offset


class _FlakyCommits:
    """Stands in for a librdkafka consumer whose offset commits time out ``failures`` times."""

    def __init__(self, failures: int) -> None:
        self.failures, self.committed = failures, []

    def commit(self, *, offsets, asynchronous):
        assert asynchronous is False
        if self.failures:
            self.failures -= 1
            raise KafkaException(KafkaError(KafkaError.REQUEST_TIMED_OUT))
        self.committed.append([(tp.topic, tp.partition, tp.offset) for tp in offsets])


class _HangingCommits:
    """Stands in for a librdkafka consumer whose commit() never returns (a coordinator it never reconnects to)."""

    def __init__(self) -> None:
        self.release = threading.Event()

    def commit(self, *, offsets, asynchronous):
        self.release.wait()


def _consumer(client_attempts: int = 3, commit_timeout: float = 5) -> PartitionConsumer:
    return PartitionConsumer(
        service="client", subscriptions=CLIENT.subscriptions, inbox=CLIENT.inbox, partition=1,
        bootstrap_servers="127.0.0.1:1", topic_prefix="t.", dead_letters=None,
        backoff=Backoff(first=0.01, cap=0.01), client_attempts=client_attempts, commit_timeout=commit_timeout,
    )


def test_a_commit_that_fails_now_and_then_is_retried_and_commits_after_the_batch():
    client = _FlakyCommits(failures=2)
    _consumer()._commit(client, [_Message("t.notifications", 7), _Message("t.notifications", 9)], threading.Event())
    assert client.committed == [[("t.notifications", 1, 10)]]


def test_a_commit_that_keeps_failing_ends_the_consumer_so_it_restarts_with_a_fresh_client():
    client = _FlakyCommits(failures=3)
    with pytest.raises(ClientStuck, match="offset commit failed 3 times") as stuck:
        _consumer(client_attempts=3)._commit(client, [_Message("t.notifications", 7)], threading.Event())
    assert client.committed == [] and not stuck.value.abandoned  # the client answered: close it normally


def test_a_commit_that_never_returns_abandons_the_client_after_the_timeout():
    client = _HangingCommits()
    started = time.monotonic()
    with pytest.raises(ClientStuck, match="did not return within") as stuck:
        _consumer(commit_timeout=0.3)._commit(client, [_Message("t.notifications", 7)], threading.Event())
    assert 0.3 <= time.monotonic() - started < 3
    assert stuck.value.abandoned  # closing it would block on the same request
    client.release.set()


class _Watermarks:
    """Stands in for a client asked for a partition's offsets: answers ``(low, high)`` or fails."""

    def __init__(self, answer: tuple[int, int] | None) -> None:
        self.answer = answer

    def get_watermark_offsets(self, tp, timeout, cached):
        assert cached is False  # the broker's answer, not what the stuck client last saw
        if self.answer is None:
            raise KafkaException(KafkaError(KafkaError._TIMED_OUT))
        return self.answer


@pytest.mark.parametrize("answer, expected", [((0, 7), 7), ((0, 0), None), ((4, 4), None), ((0, 7), 9)])
def test_an_idle_partition_with_nothing_new_is_not_stalled(answer, expected):
    _consumer()._check_not_stalled(_Watermarks(answer), {"t.notifications": expected})


@pytest.mark.parametrize("answer, expected", [((0, 8), 7), ((0, 3), None), ((2, 5), 1)])
def test_messages_past_the_position_that_do_not_arrive_mean_a_stuck_client(answer, expected):
    with pytest.raises(ClientStuck, match="none has arrived") as stuck:
        _consumer()._check_not_stalled(_Watermarks(answer), {"t.notifications": expected})
    assert not stuck.value.abandoned


def test_a_client_that_cannot_ask_the_broker_is_replaced():
    with pytest.raises(ClientStuck, match="cannot read the end offset"):
        _consumer()._check_not_stalled(_Watermarks(None), {"t.notifications": 3})

"""The consumer loop's pieces that need no broker: the poison-flood guard and the subscription filter."""

from __future__ import annotations

import uuid

from common.events import OrderStatusChanged
from common.kafka.consumer import FailureGuard, Subscription
from common.lifecycle import Status
from common.topics import NOTIFICATIONS
from tests.factories import status_changed


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

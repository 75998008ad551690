"""Read-only Kafka access for operator tools and the API: joins no group, commits nothing, fails fast.

Broker trouble surfaces as :class:`BrokerUnavailable` after at most the
caller's ``timeout`` per request, never as librdkafka's endless retrying, so a
command or an endpoint can say "unreachable" within seconds.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from common.kafka.settings import base

# Group id prefix of throwaway read-only consumers (the ACLs grant it to every principal that reads).
READONLY_GROUP_PREFIX = "palmetto-readonly-"

Ranges = dict[int, tuple[int, int]]  # partition -> (first offset, offset after the last)


class BrokerUnavailable(Exception):
    """Kafka did not answer within the time allowed."""


class UnknownTopic(Exception):
    """The broker has no such topic."""


@contextmanager
def readonly_consumer(bootstrap_servers: str, *, timeout: float, group: str | None = None) -> Iterator[Consumer]:
    """A consumer for ``assign()`` and offset queries only; closed on exit.

    ``group`` names the group whose committed offsets the caller reads; the
    consumer never subscribes, so it never joins that group, and it never
    commits. Without one a throwaway group id is used (the client requires one).
    """
    consumer = Consumer(
        base(bootstrap_servers, "palmetto-readonly")
        | {
            "group.id": group or f"{READONLY_GROUP_PREFIX}{uuid.uuid4()}",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "socket.timeout.ms": int(timeout * 1000),
            "error_cb": lambda _err: None,  # reported through the exceptions of the calls instead
            "log_level": 2,  # nor log every failed connection attempt to stderr (3 = errors)
        }
    )
    try:
        yield consumer
    finally:
        consumer.close()


_LEADER_MOVING = frozenset({KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.LEADER_NOT_AVAILABLE})


def _code(exc: KafkaException) -> int | None:
    return exc.args[0].code() if exc.args and isinstance(exc.args[0], KafkaError) else None


def watermarks(consumer: Consumer, topic: str, *, timeout: float) -> Ranges:
    """``{partition: (low, high)}`` of ``topic``: it holds offsets ``low`` to ``high - 1``.

    Raises :class:`BrokerUnavailable` and :class:`UnknownTopic`.
    """
    try:
        metadata = consumer.list_topics(topic, timeout=timeout)
    except KafkaException as exc:
        raise BrokerUnavailable(reason(exc)) from exc
    meta = metadata.topics.get(topic)
    if meta is None or (meta.error is not None and meta.error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART):
        raise UnknownTopic(topic)
    deadline = time.monotonic() + timeout
    ranges: Ranges = {}
    for partition in sorted(meta.partitions):
        while True:
            try:
                ranges[partition] = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=timeout)
                break
            except KafkaException as exc:
                # Just after a topic is created or a leader moves, the broker may answer "not leader" for a
                # moment although metadata already names it: retriable, so ask again until the deadline.
                if _code(exc) not in _LEADER_MOVING or time.monotonic() > deadline:
                    raise BrokerUnavailable(reason(exc)) from exc
                time.sleep(0.1)
    return ranges


class RangeReader:
    """Iterates the messages of ``topic`` from ``low`` up to (not including) ``end`` in each partition.

    Partitions interleave; within one, offsets ascend. Iteration stops when
    every range is read or after ``budget`` seconds, whichever comes first;
    afterwards :attr:`complete` says which.
    """

    def __init__(self, consumer: Consumer, topic: str, ranges: Ranges, *, budget: float) -> None:
        self.consumer, self.topic, self.budget = consumer, topic, budget
        self.ranges = ranges
        self.complete = False

    def __iter__(self) -> Iterator[Message]:
        pending = {p: end for p, (low, end) in self.ranges.items() if end > low}
        self.consumer.assign([TopicPartition(self.topic, p, self.ranges[p][0]) for p in pending])
        deadline = time.monotonic() + self.budget
        while pending and time.monotonic() < deadline:
            for m in self.consumer.consume(500, timeout=0.5):
                if m.error() is not None or m.partition() not in pending or m.offset() >= pending[m.partition()]:
                    continue
                if m.offset() + 1 >= pending[m.partition()]:
                    del pending[m.partition()]
                yield m
        self.complete = not pending


def reason(exc: KafkaException) -> str:
    """librdkafka's own words (``Failed to get metadata: Local: Broker transport failure``), not the repr."""
    error = exc.args[0] if exc.args else None
    return error.str() if isinstance(error, KafkaError) else str(exc)

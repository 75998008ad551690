"""Read-only Kafka access for operator tools: a consumer that joins no group, commits nothing and fails fast.

Broker trouble surfaces as :class:`~common.kafka.inspect.BrokerUnavailable`
after at most the caller's ``timeout`` per request, never as librdkafka's
endless retrying, so a command can say "unreachable" within seconds.
"""

from __future__ import annotations

import uuid
from contextlib import contextmanager
from typing import Iterator

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from common.kafka.inspect import BrokerUnavailable, UnknownTopic


@contextmanager
def readonly_consumer(bootstrap_servers: str, *, timeout: float, group: str | None = None) -> Iterator[Consumer]:
    """A consumer for ``assign()`` and offset queries only; closed on exit.

    ``group`` names the group whose committed offsets the caller reads; the
    consumer never subscribes, so it never joins that group, and it never
    commits. Without one a throwaway group id is used (the client requires one).
    """
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap_servers,
            "group.id": group or f"palmetto-readonly-{uuid.uuid4()}",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "socket.timeout.ms": int(timeout * 1000),
            "log.connection.close": False,
            "error_cb": lambda _err: None,  # reported through the exceptions of the calls instead
            "log_level": 2,  # nor log every failed connection attempt to stderr (3 = errors)
        }
    )
    try:
        yield consumer
    finally:
        consumer.close()


def watermarks(consumer: Consumer, topic: str, *, timeout: float) -> dict[int, tuple[int, int]]:
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
    ranges: dict[int, tuple[int, int]] = {}
    for partition in sorted(meta.partitions):
        try:
            ranges[partition] = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=timeout)
        except KafkaException as exc:
            raise BrokerUnavailable(reason(exc)) from exc
    return ranges


def reason(exc: KafkaException) -> str:
    """librdkafka's own words (``Failed to get metadata: Local: Broker transport failure``), not the repr."""
    error = exc.args[0] if exc.args else None
    return error.str() if isinstance(error, KafkaError) else str(exc)

"""Read-only inspection of a topic: which orders does it hold? Commits nothing."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from common.errors import InvalidEvent
from common.events import decode


class BrokerUnavailable(Exception):
    """Kafka did not answer within the time allowed."""


class UnknownTopic(Exception):
    """The broker has no such topic."""


@dataclass
class OrderIdCount:
    order_id: str
    count: int
    first_seen: float  # Kafka timestamp (ms) of the first message about this order


@dataclass
class TopicScan:
    topic: str
    messages: int = 0
    undecodable: int = 0
    complete: bool = True  # False when the time budget ran out before the end of the topic
    order_ids: list[OrderIdCount] = field(default_factory=list)


def scan_order_ids(bootstrap_servers: str, topic: str, *, timeout: float = 4.0, budget: float = 20.0) -> TopicScan:
    """Read ``topic`` from the beginning to its current end and count messages per order id.

    Order ids come out in the order they were first seen (by message
    timestamp, then partition and offset). Messages that are not valid events
    are counted as ``undecodable``. No offset is committed and no consumer
    group is joined. Raises :class:`BrokerUnavailable` when Kafka does not
    answer within ``timeout`` seconds and :class:`UnknownTopic`.
    """
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap_servers,
            "group.id": f"palmetto-inspect-{uuid.uuid4()}",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "socket.timeout.ms": int(timeout * 1000),
            "log.connection.close": False,
            "error_cb": lambda _err: None,  # reported through the exceptions below instead
        }
    )
    try:
        try:
            metadata = consumer.list_topics(topic, timeout=timeout)
        except KafkaException as exc:
            raise BrokerUnavailable(str(exc)) from exc
        meta = metadata.topics.get(topic)
        if meta is None or (meta.error is not None and meta.error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART):
            raise UnknownTopic(topic)
        ends: dict[int, tuple[int, int]] = {}
        for partition in meta.partitions:
            try:
                ends[partition] = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=timeout)
            except KafkaException as exc:
                raise BrokerUnavailable(str(exc)) from exc
        return _read(consumer, topic, ends, budget)
    finally:
        consumer.close()


def _read(consumer: Consumer, topic: str, ends: dict[int, tuple[int, int]], budget: float) -> TopicScan:
    scan = TopicScan(topic)
    pending = {p: high for p, (low, high) in ends.items() if high > low}
    consumer.assign([TopicPartition(topic, p, ends[p][0]) for p in pending])
    seen: dict[str, OrderIdCount] = {}
    order: list[tuple[float, int, int, str]] = []
    deadline = time.monotonic() + budget
    while pending and time.monotonic() < deadline:
        for m in consumer.consume(500, timeout=0.5):
            if m.error() is not None or m.partition() not in pending or m.offset() >= pending[m.partition()]:
                continue
            scan.messages += 1
            if m.offset() + 1 >= pending[m.partition()]:
                del pending[m.partition()]
            try:
                order_id = str(decode(m.value(), m.headers()).order_id)
            except InvalidEvent:
                scan.undecodable += 1
                continue
            if order_id in seen:
                seen[order_id].count += 1
            else:
                seen[order_id] = OrderIdCount(order_id, 1, m.timestamp()[1])
                order.append((m.timestamp()[1], m.partition(), m.offset(), order_id))
    scan.complete = not pending
    scan.order_ids = [seen[order_id] for *_, order_id in sorted(order)]
    return scan

"""Kafka helpers for tests and the benchmark: write raw bytes, read a topic, read offsets (confluent-kafka directly)."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: dict[str, bytes]


def produce_raw(
    bootstrap: str, topic: str, value: bytes | None, *, key: bytes | None = None, partition: int | None = None,
    headers: list[tuple[str, bytes]] | None = None,
) -> None:
    """Write one message as any third-party client could, and wait for the broker's ack."""
    producer = Producer({"bootstrap.servers": bootstrap, "acks": 1, "partitioner": "murmur2_random"})
    kwargs = {} if partition is None else {"partition": partition}
    producer.produce(topic, value=value, key=key, headers=headers or [], **kwargs)
    assert producer.flush(30) == 0, "broker did not acknowledge the test message"


def _high_watermark(consumer: Consumer, topic: str, partition: int) -> int:
    """The partition's end offset; a just-created topic may briefly answer NOT_LEADER, so ask again."""
    for attempt in range(50):
        try:
            return consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)[1]
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.NOT_LEADER_FOR_PARTITION or attempt == 49:
                raise
            time.sleep(0.1)
    raise AssertionError("unreachable")


def read_all(bootstrap: str, topic: str, partitions: int = 3, timeout: float = 15) -> list[Record]:
    """Everything currently in ``topic`` (up to the end offsets at call time), without committing."""
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": f"reader-{uuid.uuid4()}", "enable.auto.commit": False}
    )
    try:
        ends = {p: _high_watermark(consumer, topic, p) for p in range(partitions)}
        consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions) if ends[p] > 0])
        records: list[Record] = []
        deadline = time.monotonic() + timeout
        while sum(1 for r in records) < sum(ends.values()) and time.monotonic() < deadline:
            for m in consumer.consume(100, timeout=0.5):
                if m.error() is None and m.offset() < ends[m.partition()]:
                    records.append(
                        Record(m.topic(), m.partition(), m.offset(), m.key(), m.value(), dict(m.headers() or []))
                    )
        return sorted(records, key=lambda r: (r.partition, r.offset))
    finally:
        consumer.close()


def end_offsets(bootstrap: str, topic: str, partitions: int = 3) -> dict[int, int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"watermarks-{uuid.uuid4()}"})
    try:
        return {p: _high_watermark(consumer, topic, p) for p in range(partitions)}
    finally:
        consumer.close()


def committed_offsets(bootstrap: str, group: str, topic: str, partitions: int = 3) -> dict[int, int]:
    """The group's committed offset per partition (-1001 when none)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        tps = consumer.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=10)
        return {tp.partition: tp.offset for tp in tps}
    finally:
        consumer.close()


def consumed_to_end(bootstrap: str, group: str, topic: str, partitions: int = 3) -> bool:
    """True when ``group`` has committed every partition of ``topic`` up to its end offset.

    A partition that never held a message needs no commit: the group's
    consumers start at the beginning there, which is its end.
    """
    ends = end_offsets(bootstrap, topic, partitions)
    committed = committed_offsets(bootstrap, group, topic, partitions)
    return all(committed[p] >= end or end == 0 for p, end in ends.items())


def wait_for(condition, timeout: float = 30, interval: float = 0.1, what: str = "condition"):
    """Poll ``condition`` until it returns something truthy; fail with ``what`` on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")

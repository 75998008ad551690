"""How far behind is a consumer group? Its committed offsets against the topics' end offsets.

Read without joining the group and without committing anything, so it is safe
to run while the service's consumers are running.
"""

from __future__ import annotations

from dataclasses import dataclass

from confluent_kafka import KafkaException, TopicPartition

from common.kafka.readonly import BrokerUnavailable, readonly_consumer, reason, watermarks


@dataclass(frozen=True)
class PartitionLag:
    topic: str
    partition: int
    committed: int | None  # None: the group never committed here, so it starts from the beginning
    start: int  # low watermark: the oldest offset still stored
    end: int  # high watermark: the offset the next message will get

    @property
    def lag(self) -> int:
        """Messages the group has yet to consume here.

        Counted from the committed offset, or from the oldest stored message
        when there is no commit or the committed one has been deleted by
        retention (the consumers start from the earliest offset then).
        """
        position = self.start if self.committed is None else max(self.committed, self.start)
        return max(0, self.end - position)


@dataclass(frozen=True)
class GroupLag:
    group: str
    partitions: tuple[PartitionLag, ...]  # by topic, then partition

    @property
    def total(self) -> int:
        return sum(p.lag for p in self.partitions)


def group_lag(bootstrap_servers: str, group: str, topics: list[str], *, timeout: float = 5.0) -> GroupLag:
    """Committed offset, watermarks and lag of ``group`` on every partition of ``topics``.

    Raises :class:`BrokerUnavailable` when Kafka does not answer within
    ``timeout`` seconds and :class:`UnknownTopic` for a topic that does not exist.
    """
    with readonly_consumer(bootstrap_servers, timeout=timeout, group=group) as consumer:
        ranges = {topic: watermarks(consumer, topic, timeout=timeout) for topic in topics}
        wanted = [TopicPartition(topic, p) for topic in topics for p in ranges[topic]]
        try:
            answers = consumer.committed(wanted, timeout=timeout)
        except KafkaException as exc:
            raise BrokerUnavailable(reason(exc)) from exc
    partitions = []
    for answer in answers:
        if answer.error is not None:
            raise BrokerUnavailable(f"committed offset of {answer.topic}[{answer.partition}]: {answer.error.str()}")
        low, high = ranges[answer.topic][answer.partition]
        # Negative offsets are librdkafka's sentinels (OFFSET_INVALID: nothing committed).
        committed = answer.offset if answer.offset >= 0 else None
        partitions.append(PartitionLag(answer.topic, answer.partition, committed, low, high))
    return GroupLag(group, tuple(sorted(partitions, key=lambda p: (topics.index(p.topic), p.partition))))

"""Read-only inspection of a topic: which orders does it hold? Commits nothing."""

from __future__ import annotations

from dataclasses import dataclass, field

from common.errors import InvalidEvent
from common.events import decode
from common.kafka.readonly import BrokerUnavailable, RangeReader, UnknownTopic, readonly_consumer, watermarks

__all__ = ["BrokerUnavailable", "UnknownTopic", "OrderIdCount", "TopicScan", "scan_order_ids"]


@dataclass
class OrderIdCount:
    order_id: str
    count: int


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
    scan = TopicScan(topic)
    seen: dict[str, OrderIdCount] = {}
    first: list[tuple[float, int, int, str]] = []
    with readonly_consumer(bootstrap_servers, timeout=timeout) as consumer:
        reader = RangeReader(consumer, topic, watermarks(consumer, topic, timeout=timeout), budget=budget)
        for m in reader:
            scan.messages += 1
            try:
                order_id = str(decode(m.value(), m.headers()).order_id)
            except InvalidEvent:
                scan.undecodable += 1
                continue
            if order_id in seen:
                seen[order_id].count += 1
            else:
                seen[order_id] = OrderIdCount(order_id, 1)
                first.append((m.timestamp()[1], m.partition(), m.offset(), order_id))
    scan.complete = reader.complete
    scan.order_ids = [seen[order_id] for *_, order_id in sorted(first)]
    return scan

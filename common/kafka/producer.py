"""The one Kafka producer every service uses (outbox relay, dead letters)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from confluent_kafka import KafkaError, Message
from confluent_kafka import Producer as _Producer

from common.kafka.settings import base

DeliveryCallback = Callable[[str | None], None]


@dataclass(frozen=True)
class Outgoing:
    """One message to send: full topic name, key, value and headers."""

    topic: str
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]] = field(default_factory=list)


@dataclass(frozen=True)
class Delivery:
    """What Kafka said about each message of a :meth:`Producer.send_all`, by its index in the list sent."""

    acknowledged: list[int]
    failed: dict[int, str]  # index -> Kafka's error
    unreported: list[int]  # no delivery report yet (still in the client's queue): neither sent nor failed

    @property
    def failures(self) -> list[str]:
        """One error per message not acknowledged."""
        return [*self.failed.values(), *["no delivery report"] * len(self.unreported)]


class Producer:
    """A thin, typed wrapper that fixes the platform's producer settings.

    ``acks=1`` is required by the customer, which rules out the idempotent
    producer. To keep one order's events in order despite retries we allow a
    single in-flight request per connection; whatever still slips through
    (a lost or duplicated message) the outbox and the consumers' inboxes
    absorb.
    """

    def __init__(self, bootstrap_servers: str, *, client_id: str, message_timeout_ms: int = 30_000) -> None:
        config = base(bootstrap_servers, client_id) | {
            "acks": 1,
            "enable.idempotence": False,
            "max.in.flight.requests.per.connection": 1,
            "retries": 2_147_483_647,
            "retry.backoff.ms": 100,
            "linger.ms": 5,
            "message.timeout.ms": message_timeout_ms,
            "compression.type": "lz4",
            # Same key -> same partition as the Java clients (murmur2), so any producer keeps an order together.
            "partitioner": "murmur2_random",
        }
        self._config = config
        self._producer = _Producer(config)
        self.message_timeout_s = message_timeout_ms / 1000

    def produce(
        self,
        topic: str,
        *,
        key: bytes | None,
        value: bytes | None,
        headers: list[tuple[str, bytes]],
        on_delivery: DeliveryCallback,
    ) -> None:
        """Queue one message; ``on_delivery(None)`` on success, ``on_delivery(error)`` on failure.

        Callbacks run inside :meth:`flush`/:meth:`poll` on the caller's thread.
        """

        def report(err: KafkaError | None, _msg: Message) -> None:
            on_delivery(None if err is None else str(err))

        while True:
            try:
                self._producer.produce(topic, value=value, key=key, headers=headers, on_delivery=report)
                return
            except BufferError:
                # Local queue full: serve delivery reports to make room, then try again.
                self._producer.poll(0.1)

    def send_all(self, messages: Sequence[Outgoing]) -> Delivery:
        """Send ``messages`` in order and wait for Kafka's delivery reports; say which were acknowledged.

        The one "send these and tell me which got through" of the platform: the outbox relay,
        dead-lettering and dead-letter replay all use it.
        """
        outcome: dict[int, str | None] = {}
        for i, m in enumerate(messages):
            self.produce(
                m.topic, key=m.key, value=m.value, headers=m.headers,
                on_delivery=lambda err, i=i: outcome.__setitem__(i, err),
            )  # fmt: skip
        self.flush()
        return Delivery(
            acknowledged=[i for i, err in outcome.items() if err is None],
            failed={i: err for i, err in outcome.items() if err is not None},
            unreported=[i for i in range(len(messages)) if i not in outcome],
        )

    def flush(self, timeout: float | None = None) -> int:
        """Wait for outstanding deliveries; return how many are still queued (0 = all reported)."""
        return self._producer.flush(self.message_timeout_s + 5 if timeout is None else timeout)

    def reset(self) -> None:
        """Replace the librdkafka client with a fresh one with the same settings.

        For when nothing gets through any more: after a broker restart
        librdkafka can fail to reconnect for good, while a new client finds the
        broker at once. Messages still queued in the old client are purged and
        reported failed, so callers publish them again (a duplicate at most,
        which consumers absorb).
        """
        old, self._producer = self._producer, _Producer(self._config)
        old.purge()
        old.poll(0)

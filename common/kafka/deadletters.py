"""Dead-letter topics for operators: read them without committing, replay chosen messages.

A dead letter is the original message -- key, value and headers, untouched --
plus the headers the consumer that gave up on it appended
(:meth:`~common.kafka.consumer.BatchApplier.send_dead_letters`):

``dlt.error``      why it can never be processed
``dlt.topic``      where it was read from (full topic name), with ``dlt.partition`` and ``dlt.offset``
``dlt.group``      the consumer group (the service) that dead-lettered it
``dlt.failed_at``  when (UTC ISO-8601)

Reading joins no consumer group and commits nothing. Replaying produces the
original message to its original topic through the platform's
:class:`~common.kafka.producer.Producer`; the dead letter itself stays where it
is, as a record of what happened.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

from confluent_kafka import Consumer, Message, TopicPartition

from common.kafka.producer import Outgoing, Producer
from common.kafka.readonly import BrokerUnavailable, RangeReader, readonly_consumer, watermarks

DLT_HEADER_PREFIX = "dlt."
Position = tuple[int, int]  # (partition, offset)


def dead_letter_headers(message: Message, *, error: str, group: str) -> list[tuple[str, bytes]]:
    """``message``'s own headers followed by the ``dlt.*`` ones that say why and from where it was given up on.

    The consumer writes these; :class:`DeadLetter` reads them back.
    """
    origin = {
        "error": error,
        "topic": message.topic(),
        "partition": str(message.partition()),
        "offset": str(message.offset()),
        "group": group,
        "failed_at": datetime.now(UTC).isoformat(),
    }
    return list(message.headers() or []) + [
        (f"{DLT_HEADER_PREFIX}{name}", value.encode()) for name, value in origin.items()
    ]


class NoSuchMessage(Exception):
    """Nothing is stored at the requested partition and offset."""


class NotReplayable(Exception):
    """The message lacks the ``dlt.*`` origin headers, or names an origin other than the expected topic."""


class ReplayFailed(Exception):
    """Kafka did not acknowledge every replayed message; the ones not named here were delivered."""


@dataclass(frozen=True)
class DeadLetter:
    """One message read from a dead-letter topic."""

    topic: str  # the dead-letter topic
    partition: int
    offset: int
    timestamp_ms: int | None
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...]

    @property
    def position(self) -> str:
        """``partition:offset`` in the dead-letter topic, as the ``deadletters`` command takes it."""
        return f"{self.partition}:{self.offset}"

    def header(self, name: str) -> str | None:
        """The last value of header ``name`` as text (the consumer appends its ``dlt.*`` after the original ones)."""
        for header, raw in reversed(self.headers):
            if header == name:
                return None if raw is None else raw.decode("utf-8", "replace")
        return None

    @property
    def error(self) -> str | None:
        return self.header("dlt.error")

    @property
    def origin_topic(self) -> str | None:
        return self.header("dlt.topic")

    @property
    def origin(self) -> str:
        """``topic[partition]@offset`` the message was dead-lettered from."""
        return f"{self.origin_topic or '?'}[{self.header('dlt.partition') or '?'}]@{self.header('dlt.offset') or '?'}"

    @property
    def group(self) -> str | None:
        return self.header("dlt.group")

    @property
    def failed_at(self) -> str | None:
        return self.header("dlt.failed_at")

    @property
    def written_at(self) -> datetime | None:
        """When the dead letter was written to its topic (the Kafka message timestamp)."""
        if self.timestamp_ms is None:
            return None
        return datetime.fromtimestamp(self.timestamp_ms / 1000, UTC)

    @property
    def original_headers(self) -> list[tuple[str, bytes | None]]:
        """The headers the message carried before it was dead-lettered (no ``dlt.*``), in their order."""
        return [(name, raw) for name, raw in self.headers if not name.startswith(DLT_HEADER_PREFIX)]


@dataclass(frozen=True)
class DeadLetterPage:
    topic: str
    total: int  # messages the topic holds now (high minus low watermark, summed over partitions)
    letters: list[DeadLetter]  # oldest first, at most the requested limit
    complete: bool  # False when the time budget ran out before everything wanted was read


def list_dead_letters(
    bootstrap_servers: str, topic: str, *, limit: int | None = None, timeout: float = 5.0, budget: float = 20.0
) -> DeadLetterPage:
    """Read dead-letter topic ``topic`` from the beginning to its current end, oldest first.

    With ``limit``, only the oldest ``limit`` dead letters (by message
    timestamp) are returned, and no partition is read further than that.
    Raises :class:`BrokerUnavailable` when Kafka does not answer within
    ``timeout`` seconds and :class:`UnknownTopic` when the topic does not exist.
    """
    with readonly_consumer(bootstrap_servers, timeout=timeout) as consumer:
        ranges = watermarks(consumer, topic, timeout=timeout)
        total = sum(high - low for low, high in ranges.values())
        # Each partition's oldest messages come first, so the oldest ``limit`` overall are among
        # the first ``limit`` of every partition.
        wanted = {p: (low, high if limit is None else min(high, low + limit)) for p, (low, high) in ranges.items()}
        reader = RangeReader(consumer, topic, wanted, budget=budget)
        letters = [_letter(m) for m in reader]
    letters.sort(key=lambda d: (d.timestamp_ms or 0, d.partition, d.offset))
    return DeadLetterPage(topic, total, letters[:limit] if limit is not None else letters, complete=reader.complete)


def fetch_dead_letters(
    bootstrap_servers: str, topic: str, positions: list[Position], *, timeout: float = 5.0
) -> list[DeadLetter]:
    """The messages at ``positions`` (``(partition, offset)``) of ``topic``, in the order asked.

    Raises :class:`NoSuchMessage` for a position that holds nothing (no such
    partition, an offset outside what the partition holds, or a gap), plus
    :class:`BrokerUnavailable` and :class:`UnknownTopic` as
    :func:`list_dead_letters` does. All positions are checked before any is read.
    """
    with readonly_consumer(bootstrap_servers, timeout=timeout) as consumer:
        ranges = watermarks(consumer, topic, timeout=timeout)
        for partition, offset in positions:
            if partition not in ranges:
                have = ", ".join(map(str, sorted(ranges)))
                raise NoSuchMessage(f"{topic} has no partition {partition} (it has {have})")
            low, high = ranges[partition]
            if not low <= offset < high:
                held = f"offsets {low} to {high - 1}" if high > low else "nothing"
                raise NoSuchMessage(f"{topic} partition {partition} has no offset {offset}: it holds {held}")
        return [_read_one(consumer, topic, partition, offset, timeout) for partition, offset in positions]


@dataclass(frozen=True)
class Replayed:
    letter: DeadLetter
    topic: str  # where it went: its original topic


def replay_dead_letters(
    bootstrap_servers: str, letters: list[DeadLetter], *, expected_topic: str, message_timeout_ms: int = 10_000
) -> list[Replayed]:
    """Produce each dead letter to its original topic with its original key, value and headers.

    The original topic comes from the ``dlt.topic`` header and must be
    ``expected_topic`` -- the topic whose dead-letter topic the letters were
    read from -- or :class:`NotReplayable` is raised before anything is sent.
    Waits for Kafka's acknowledgements and raises :class:`ReplayFailed` unless
    every message was delivered. Replaying twice is harmless: consumers skip
    an ``event_id`` they already applied, and a message that is still invalid
    is dead-lettered again.
    """
    for letter in letters:
        if letter.origin_topic is None:
            raise NotReplayable(f"{letter.topic} {letter.position} has no dlt.topic header: not a Palmetto dead letter")
        if letter.origin_topic != expected_topic:
            raise NotReplayable(
                f"{letter.topic} {letter.position} came from {letter.origin_topic}, not {expected_topic}; not replayed"
            )
    producer = Producer(
        bootstrap_servers, client_id="palmetto-deadletters-replay", message_timeout_ms=message_timeout_ms
    )
    delivery = producer.send_all(
        [
            # None header values are legal Kafka headers.
            Outgoing(expected_topic, letter.key, letter.value, letter.original_headers)  # type: ignore[arg-type]
            for letter in letters
        ]
    )
    failures = [
        f"{letters[i].position}: {delivery.failed.get(i, 'no delivery report')}"
        for i in sorted([*delivery.failed, *delivery.unreported])
    ]
    if failures:
        raise ReplayFailed(f"not acknowledged by Kafka: {'; '.join(failures)}")
    return [Replayed(letter, expected_topic) for letter in letters]


# --------------------------------------------------------------------------- reading


def _read_one(consumer: Consumer, topic: str, partition: int, offset: int, timeout: float) -> DeadLetter:
    consumer.assign([TopicPartition(topic, partition, offset)])
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = consumer.poll(0.5)
        if m is None or m.error() is not None or m.partition() != partition:
            continue
        if m.offset() == offset:
            return _letter(m)
        if m.offset() > offset:
            # A gap: the offset held a transaction marker or was compacted away.
            raise NoSuchMessage(f"{topic} partition {partition} holds no message at offset {offset}")
    raise BrokerUnavailable(f"reading {topic} partition {partition} offset {offset} took longer than {timeout}s")


def _letter(m: Message) -> DeadLetter:
    kind, timestamp = m.timestamp()
    return DeadLetter(
        topic=m.topic(),
        partition=m.partition(),
        offset=m.offset(),
        timestamp_ms=timestamp if kind != 0 else None,  # 0 = TIMESTAMP_NOT_AVAILABLE
        key=m.key(),
        value=m.value(),
        headers=tuple(m.headers() or ()),
    )

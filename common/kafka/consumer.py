"""The one consumer loop: a pinned partition, batches in one transaction, commit after commit.

Two parts: :class:`PartitionConsumer` keeps a Kafka client alive (assign, poll,
stall check, offset commit, client replacement) and hands each batch to a
:class:`BatchApplier`, which needs no Kafka client to be tested. For each batch

1. the applier decodes every message (:func:`common.events.decode`);
2. in ONE database transaction, records the batch's event ids in the inbox
   in one statement that skips those it holds already (so redelivery has no
   effect), and runs the handler of each wanted message it recorded;
3. after the transaction commits, sends messages that can never succeed
   (:class:`InvalidEvent`) to ``<topic>.DLT`` and waits for Kafka's ack;
4. only then the consumer commits the offsets synchronously: under load at most every
   :data:`COMMIT_INTERVAL_S` for all batches applied since the last commit, at once when the
   partition goes quiet, and on stop. A crash in between redelivers batches that are already
   in the database, which the inbox skips.

A handler that finds its message can never succeed rolls the whole batch back;
the batch is then applied again one message at a time, each in a savepoint, so
only that message is dead-lettered (savepoints cost a round trip each, so they
are used only then).

Any other exception rolls the batch back and retries it in place with
exponential back-off; nothing is skipped. When most recent messages are
invalid the consumer halts (:class:`ConsumerHalted`) instead of dead-lettering
them. On stop the message in hand is finished, its offsets committed, and the
consumer closed.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections import deque
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Message, TopicPartition
from django.db import close_old_connections, transaction

from common import metrics
from common.correlation import bound
from common.db import drop_broken_connection, insert_each
from common.declaration import Subscription
from common.errors import ConsumerHalted, InvalidEvent
from common.events import Envelope, decode
from common.kafka.deadletters import dead_letter_headers
from common.kafka.producer import Outgoing, Producer
from common.kafka.settings import base
from common.models import InboxEvent
from common.publishing import Publisher
from common.topics import consumer_group

log = logging.getLogger("palmetto.consumer")

REQUEST_TIMEOUT_MS = 10_000
# How long one synchronous offset commit may take before the client is given up on (see ``_commit``).
COMMIT_TIMEOUT_S = 15.0
# Under load, offsets are committed at most this often (each commit is a write to the broker's
# __consumer_offsets log); at once when the partition goes quiet, and on stop.
COMMIT_INTERVAL_S = 0.2
# After this long without a message, ask the broker whether the partition has any: if it does, or the
# client cannot ask, the client is stuck (see ClientStuck).
STALL_CHECK_S = 10.0


class ClientStuck(RuntimeError):
    """This consumer's librdkafka client stopped making progress; :meth:`PartitionConsumer.run` replaces it.

    After a broker restart librdkafka can leave a client without a working
    connection for good -- an offset commit queued for a group coordinator it
    never reconnects to (and ``commit()`` never returns), fetches that never
    resume -- while a new client finds the broker at once. ``abandoned``: a
    call into the client never returned, so it is left alone rather than
    closed (closing it would block on the same request).
    """

    def __init__(self, message: str, *, abandoned: bool = False) -> None:
        super().__init__(message)
        self.abandoned = abandoned


@dataclass(frozen=True)
class Backoff:
    """Exponential back-off for transient failures: first, first*2, ... capped."""

    first: float = 0.2
    cap: float = 10.0

    def delay(self, attempt: int) -> float:
        return min(self.cap, self.first * (2 ** max(0, attempt - 1)))


class FailureGuard:
    """Trips when most of the recent messages were invalid.

    One poison message is bad data; a partition where most messages fail to
    decode means a bug or a bad deploy, and dead-lettering all of it would only
    move the damage elsewhere. Over the last ``window`` messages, at least
    ``min_invalid`` invalid ones making up more than ``max_ratio`` trip it.
    """

    def __init__(self, window: int = 50, min_invalid: int = 10, max_ratio: float = 0.5) -> None:
        self.recent: deque[bool] = deque(maxlen=window)
        self.min_invalid, self.max_ratio = min_invalid, max_ratio

    def observe(self, messages: int, invalid: int) -> None:
        self.recent.extend([False] * (messages - invalid) + [True] * invalid)

    @property
    def tripped(self) -> bool:
        bad = sum(self.recent)
        return bad >= self.min_invalid and bad > self.max_ratio * len(self.recent)


@dataclass
class Rejected:
    """A message of a batch that goes to the dead-letter topic, and why."""

    message: Message
    error: str


class BatchApplier:
    """Applies batches of one service's messages to its database; knows nothing of the Kafka client.

    ``messages`` are anything with confluent-kafka's ``Message`` accessors (``topic()``,
    ``partition()``, ``offset()``, ``key()``, ``value()``, ``headers()``), so tests can use fakes.
    """

    def __init__(
        self,
        *,
        name: str,
        service: str,
        subscriptions: Sequence[Subscription],
        inbox: type[InboxEvent],
        topic_prefix: str,
        group_id: str,
        dead_letters: Producer,
        publisher: Publisher | None = None,
        backoff: Backoff = Backoff(),
        guard: FailureGuard | None = None,
    ) -> None:
        """``publisher``: the service's, so that the events a batch's handlers queue are inserted in
        one statement (:meth:`~common.publishing.Publisher.batched`) rather than one each."""
        self.name = name
        self.service = service
        self.by_topic = {s.topic.full_name(topic_prefix): s for s in subscriptions}
        self.inbox = inbox
        self.prefix = topic_prefix
        self.group_id = group_id
        self.dead_letters = dead_letters
        self.publisher = publisher
        self.backoff = backoff
        self.guard = guard or FailureGuard()
        # Whether the last batch held a message this service acts on (and so wrote to its database).
        self.wrote = False

    def apply_until_done(self, batch: list[Message], stop: threading.Event) -> bool:
        """Apply the batch, retrying transient failures in place; False if stopped before success.

        Raises :class:`ConsumerHalted` when the failure guard trips.
        """
        attempt = 0
        while True:
            close_old_connections()
            try:
                dead = self.apply(batch)
                break
            except Exception:
                attempt += 1
                delay = self.backoff.delay(attempt)
                log.exception(
                    "%s: batch at %s failed (attempt %d); retrying in %.1fs",
                    self.name,
                    _where(batch[0]),
                    attempt,
                    delay,
                )
                drop_broken_connection()
                if stop.wait(delay):
                    return False
        self.guard.observe(len(batch), len(dead))
        if self.guard.tripped:
            # Valid messages of this batch are applied (the inbox absorbs their redelivery); nothing is
            # dead-lettered or committed, so after a fix the same messages are read again.
            raise ConsumerHalted(
                f"{self.name}: {sum(self.guard.recent)} of the last {len(self.guard.recent)} messages were invalid "
                f"(latest: {dead[-1].error}); stopping instead of dead-lettering them"
            )
        attempt = 0
        while dead:
            try:
                self.send_dead_letters(dead)
                break
            except Exception:
                attempt += 1
                log.exception("%s: could not dead-letter %d messages; retrying", self.name, len(dead))
                if stop.wait(self.backoff.delay(attempt)):
                    return False
        return True

    def apply(self, batch: list[Message]) -> list[Rejected]:
        """Apply ``batch`` in one transaction; return the messages that can never succeed, in batch order."""
        dead: list[Rejected] = []
        wanted: list[tuple[Message, Envelope[Any], Any]] = []
        for message in batch:
            try:
                envelope = decode(message.value(), message.headers())
            except InvalidEvent as exc:
                dead.append(Rejected(message, str(exc)))
                continue
            handler = self.by_topic[message.topic()].handler_for(envelope)
            if handler is not None:
                wanted.append((message, envelope, handler))
        self.wrote = bool(wanted)
        if wanted:
            try:
                with transaction.atomic(), (self.publisher.batched() if self.publisher else nullcontext()):
                    applied, skipped = self._apply_together(wanted)
            except InvalidEvent:
                # One handler found its message can never succeed, and the batch rolled back. Apply it
                # again message by message, each in a savepoint, so only that message is rejected.
                with transaction.atomic():
                    rejected, applied, skipped = self._apply_one_by_one(wanted)
                dead += rejected
            # Counted once the transaction has committed, so a rolled-back attempt counts nothing.
            metrics.applied(self.service, applied)
            metrics.duplicate_skipped(self.service, skipped)
        order = {id(m): i for i, m in enumerate(batch)}
        return sorted(dead, key=lambda r: order[id(r.message)])

    def _apply_together(
        self, wanted: list[tuple[Message, Envelope[Any], Any]]
    ) -> tuple[list[Message], list[Message]]:
        """Apply inside the caller's transaction; return (applied, skipped as already applied).

        The batch's inbox rows are written first, in one statement that skips the events the inbox
        holds already, and only the events it wrote are handled: one round trip for the inbox
        however big the batch. A handler's :class:`InvalidEvent` propagates (the caller rolls back
        and goes :meth:`_apply_one_by_one`).
        """
        fresh = set(insert_each(self.inbox, [self._inbox_row(m, e) for m, e, _ in wanted],
                                skip_conflicts_on="event_id", returning="event_id"))
        done: list[Message] = []
        skipped: list[Message] = []
        for message, envelope, handler in wanted:
            with bound(envelope.correlation_id):
                if envelope.event_id not in fresh:  # in the inbox already, or earlier in this batch
                    self._log_skipped(envelope)
                    skipped.append(message)
                    continue
                fresh.discard(envelope.event_id)
                handler(envelope)
            done.append(message)
        return done, skipped

    def _apply_one_by_one(
        self, wanted: list[tuple[Message, Envelope[Any], Any]]
    ) -> tuple[list[Rejected], list[Message], list[Message]]:
        """Like :meth:`_apply_together`, but each handler runs in a savepoint (a round trip each), so
        a message it finds can never succeed is rejected alone; only the others are recorded.
        Returns (rejected, applied, skipped)."""
        applied = set(
            self.inbox.objects.filter(event_id__in=[e.event_id for _, e, _ in wanted]).values_list(
                "event_id", flat=True
            )
        )
        dead: list[Rejected] = []
        done: list[Message] = []
        skipped: list[Message] = []
        rows: list[InboxEvent] = []
        for message, envelope, handler in wanted:
            with bound(envelope.correlation_id):
                if envelope.event_id in applied:
                    self._log_skipped(envelope)
                    skipped.append(message)
                    continue
                try:
                    with transaction.atomic():
                        handler(envelope)
                except InvalidEvent as exc:
                    dead.append(Rejected(message, str(exc)))
                    continue
            applied.add(envelope.event_id)
            done.append(message)
            rows.append(self._inbox_row(message, envelope))
        insert_each(self.inbox, rows)
        return dead, done, skipped

    def _inbox_row(self, message: Message, envelope: Envelope[Any]) -> InboxEvent:
        return self.inbox(
            event_id=envelope.event_id,
            event_type=envelope.event_type,
            order_id=envelope.order_id,
            correlation_id=envelope.correlation_id,
            topic=message.topic(),
            partition=message.partition(),
            offset=message.offset(),
        )

    def _log_skipped(self, envelope: Envelope[Any]) -> None:
        log.info("%s: %s %s already applied; skipped", self.name, envelope.event_type, envelope.event_id)

    def send_dead_letters(self, dead: list[Rejected]) -> None:
        """Publish each to ``<topic>.DLT`` with original key, value and headers plus error and origin."""
        failures = self.dead_letters.send_all(
            [
                Outgoing(
                    topic=self.by_topic[r.message.topic()].topic.dlt_name(self.prefix),
                    key=r.message.key(),
                    value=r.message.value(),
                    headers=dead_letter_headers(r.message, error=r.error, group=self.group_id),
                )
                for r in dead
            ]
        ).failures
        if failures:
            self.dead_letters.reset()  # in case this client will never reconnect (see Producer.reset)
            raise RuntimeError(f"dead-letter publish failed: {failures[0]}")
        metrics.dead_lettered(self.service, dead)
        for letter in dead:
            log.error("%s: dead-lettered %s: %s", self.name, _where(letter.message), letter.error)


class _Committer:
    """Runs one client's synchronous offset commits on one long-lived thread, so each can be timed out.

    ``Consumer.commit()`` takes no timeout and can block for good on a coordinator the client
    never reconnects to; waiting for it here, with a timeout, lets the consumer give up on the client.
    """

    def __init__(self, client: Consumer, name: str) -> None:
        self.client = client
        self._requests: queue.SimpleQueue = queue.SimpleQueue()
        threading.Thread(target=self._serve, name=f"{name}-commit", daemon=True).start()

    def _serve(self) -> None:
        while (request := self._requests.get()) is not None:
            offsets, done, outcome = request
            try:
                self.client.commit(offsets=offsets, asynchronous=False)
                outcome.append(None)
            except BaseException as exc:  # handed to the consumer's thread
                outcome.append(exc)
            done.set()

    def commit(self, offsets: list[TopicPartition], timeout: float) -> bool:
        """Commit synchronously; re-raise the commit's exception; False if it did not return within ``timeout``."""
        done, outcome = threading.Event(), []
        self._requests.put((offsets, done, outcome))
        if not done.wait(timeout):
            return False
        if outcome[0] is not None:
            raise outcome[0]
        return True

    def close(self) -> None:
        self._requests.put(None)


class PartitionConsumer:
    """Consumes partition ``partition`` of each subscribed topic for one service."""

    def __init__(
        self,
        *,
        service: str,
        subscriptions: Sequence[Subscription],
        inbox: type[InboxEvent],
        partition: int,
        bootstrap_servers: str,
        topic_prefix: str,
        dead_letters: Producer,
        publisher: Publisher | None = None,
        batch_size: int = 200,
        backoff: Backoff = Backoff(),
        guard: FailureGuard | None = None,
        crash_before_offset_commit: int = 0,
        commit_timeout: float = COMMIT_TIMEOUT_S,
        commit_interval: float = COMMIT_INTERVAL_S,
        stall_check: float = STALL_CHECK_S,
        client_attempts: int = 3,
    ) -> None:
        self.service = service
        self.partition = partition
        self.batch_size = batch_size
        self.backoff = backoff
        self.crash_before_offset_commit = crash_before_offset_commit
        self.commit_timeout = commit_timeout
        self.commit_interval = commit_interval
        self.stall_check = stall_check
        self.client_attempts = client_attempts
        self.by_topic = {s.topic.full_name(topic_prefix): s for s in subscriptions}
        self.group_id = consumer_group(topic_prefix, service)
        self.config = base(bootstrap_servers, f"{service}-p{partition}") | {
            "group.id": self.group_id,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            # The broker answers a fetch as soon as a message arrives; this only bounds how often an
            # idle consumer asks again (a short wait here costs idle CPU in the broker, not latency).
            # Kept well below socket.timeout.ms, which must outlast a fetch the broker holds.
            "fetch.wait.max.ms": 4000,
            # A request (an offset commit above all) the broker does not answer fails after this,
            # instead of librdkafka's 60 s, so a stuck commit is noticed and retried soon.
            "socket.timeout.ms": REQUEST_TIMEOUT_MS,
        }
        self.name = f"{service}-consumer-p{partition}"
        self.applier = BatchApplier(
            name=self.name,
            service=service,
            subscriptions=subscriptions,
            inbox=inbox,
            topic_prefix=topic_prefix,
            group_id=self.group_id,
            dead_letters=dead_letters,
            publisher=publisher,
            backoff=backoff,
            guard=guard,
        )
        self._committer: _Committer | None = None

    def run(self, stop: threading.Event) -> None:
        """Consume until ``stop`` is set, replacing the librdkafka client whenever it gets stuck."""
        while not stop.is_set():
            try:
                self._run_client(stop)
            except ClientStuck as exc:
                log.warning("%s: %s; starting a fresh Kafka client", self.name, exc)
                metrics.client_replaced(self.service, "consumer")
                stop.wait(1.0)

    def _run_client(self, stop: threading.Event) -> None:
        """Consume with one client until ``stop``; close it unless it had to be abandoned."""
        consumer = Consumer(self.config)
        abandoned = False
        try:
            start = self._committed_positions(consumer, stop)
            if start is None:
                return
            # assign(), not subscribe(): partitions are pinned, no group rebalancing.
            consumer.assign(start)
            log.info("%s assigned to %s", self.name, ", ".join(f"{t}[{self.partition}]" for t in self.by_topic))
            # Offset of the next message wanted per topic (None: from the beginning), for the stall check.
            expected = {tp.topic: tp.offset if tp.offset >= 0 else None for tp in start}
            active_at = committed_at = time.monotonic()
            # The last message per topic of the batches applied in the database whose offsets are not committed.
            uncommitted: dict[str, Message] = {}
            while not stop.is_set():
                # Wait for one message, then take whatever else is already fetched: consume() alone
                # would hold a lone message until the batch fills or the timeout passes.
                first = consumer.poll(self.commit_interval if uncommitted else 0.5)
                if first is None:
                    if uncommitted:  # the partition went quiet: commit what was applied
                        self._commit(consumer, list(uncommitted.values()), stop)
                        uncommitted, committed_at = {}, time.monotonic()
                    if time.monotonic() - active_at >= self.stall_check:
                        self._check_not_stalled(consumer, expected)
                        active_at = time.monotonic()
                    continue
                active_at = time.monotonic()
                fetched = [first, *consumer.consume(self.batch_size - 1, timeout=0)]
                batch = [m for m in fetched if self._is_message(m)]
                metrics.consumed(self.service, batch)
                for m in batch:
                    expected[m.topic()] = m.offset() + 1
                if batch and self.applier.apply_until_done(batch, stop):
                    self._maybe_crash()
                    uncommitted |= {m.topic(): m for m in batch}
                    if time.monotonic() - committed_at >= self.commit_interval:
                        self._commit(consumer, list(uncommitted.values()), stop)
                        uncommitted, committed_at = {}, time.monotonic()
                    metrics.batch_done(self.service, self.partition, len(batch), active_at)
            if uncommitted:  # stopping: what was applied is committed before the client closes
                self._commit(consumer, list(uncommitted.values()), stop)
        except ClientStuck as exc:
            abandoned = exc.abandoned
            raise
        finally:
            if abandoned:
                log.error("%s: abandoning a Kafka client stuck in a call that never returned", self.name)
            else:
                if self._committer is not None:
                    self._committer.close()
                consumer.close()
            self._committer = None
            close_old_connections()
            log.info("%s closed", self.name)

    def _check_not_stalled(self, consumer: Consumer, expected: dict[str, int | None]) -> None:
        """Raise :class:`ClientStuck` if a partition holds messages past ``expected`` that are not arriving,
        or if the client cannot even ask the broker (its connection is gone for good, or the broker is
        down -- then the fresh client waits for it in :meth:`_committed_positions`)."""
        for topic, offset in expected.items():
            try:
                low, high = consumer.get_watermark_offsets(
                    TopicPartition(topic, self.partition), timeout=REQUEST_TIMEOUT_MS / 1000, cached=False)
            except KafkaException as exc:
                raise ClientStuck(f"cannot read the end offset of {topic}[{self.partition}] ({exc})") from exc
            if high > (low if offset is None else max(offset, low)):
                raise ClientStuck(f"{topic}[{self.partition}] holds messages up to offset {high} but none has "
                                  f"arrived for {self.stall_check:.0f}s")

    def _maybe_crash(self) -> None:
        """Fault injection for the test suite: die between the database commit and the offset commit.

        Counts only batches that wrote to the database: one made only of messages this service ignores
        (a cash order's ``OrderPlaced`` on the Client App's own topic) proves nothing when redelivered.
        """
        if self.crash_before_offset_commit and self.applier.wrote:
            self.crash_before_offset_commit -= 1
            if not self.crash_before_offset_commit:
                log.critical(
                    "%s: fault injection: exiting after the database commit, before the offset commit", self.name
                )
                os._exit(86)

    def _committed_positions(self, consumer: Consumer, stop: threading.Event) -> list[TopicPartition] | None:
        """Where to resume: the group's committed offsets, or the beginning when none.

        Fetched explicitly, and retried, because a plain ``assign()`` whose
        offset fetch fails (e.g. the group coordinator is still loading after a
        broker start) can leave the partition idle without an error. After
        ``client_attempts`` failures :class:`ClientStuck` asks for a fresh client,
        in case this one never reconnects; while the broker is down that repeats
        (each old client closed), which is harmless.
        """
        wanted = [TopicPartition(topic, self.partition) for topic in self.by_topic]
        attempt = 0
        while not stop.is_set():
            try:
                committed = consumer.committed(wanted, timeout=10)
                failed = [tp for tp in committed if tp.error]
                if not failed:
                    return [
                        TopicPartition(tp.topic, tp.partition, tp.offset if tp.offset >= 0 else OFFSET_BEGINNING)
                        for tp in committed
                    ]
                problem = str(failed[0].error)
            except KafkaException as exc:
                problem = str(exc)
            attempt += 1
            if attempt >= self.client_attempts:
                raise ClientStuck(f"cannot read committed offsets after {attempt} attempts ({problem})")
            log.warning("%s: cannot read committed offsets yet (%s); retrying", self.name, problem)
            stop.wait(self.backoff.delay(attempt))
        return None

    def _commit(self, consumer: Consumer, batch: list[Message], stop: threading.Event) -> None:
        """Commit the offset after the last message of each topic in the batch, synchronously.

        A failed commit is retried with back-off. :class:`ClientStuck` (and so a
        fresh client) follows ``client_attempts`` failures, or at once a commit
        call that has not returned within ``commit_timeout`` seconds: librdkafka
        retries a commit inside ``commit()`` for as long as it waits for the
        coordinator, which after a broker restart can be forever. The batch is
        in the database already; the fresh client reads it again and the inbox
        skips it.
        """
        next_offsets: dict[str, int] = {}
        for m in batch:
            next_offsets[m.topic()] = max(next_offsets.get(m.topic(), 0), m.offset() + 1)
        offsets = [TopicPartition(topic, self.partition, offset) for topic, offset in next_offsets.items()]
        attempt = 0
        while True:
            try:
                self._commit_within_timeout(consumer, offsets)
                return
            except KafkaException as exc:
                attempt += 1
                if attempt >= self.client_attempts:
                    raise ClientStuck(f"offset commit failed {attempt} times in a row ({exc})") from exc
                log.warning("%s: offset commit failed (%s); retrying", self.name, exc)
                # Giving up on stop is safe: the inbox absorbs the redelivery.
                if stop.wait(self.backoff.delay(attempt)):
                    return

    def _commit_within_timeout(self, consumer: Consumer, offsets: list[TopicPartition]) -> None:
        """``consumer.commit()``, which takes no timeout, bounded by ``commit_timeout`` (see :class:`_Committer`)."""
        if self._committer is None or self._committer.client is not consumer:
            self._committer = _Committer(consumer, self.name)
        if not self._committer.commit(offsets, self.commit_timeout):
            self._committer = None  # its thread is stuck in the client's commit; both are abandoned
            raise ClientStuck(f"an offset commit did not return within {self.commit_timeout:.0f}s", abandoned=True)

    def _is_message(self, m: Message) -> bool:
        err = m.error()
        if err is None:
            return True
        if err.code() != KafkaError._PARTITION_EOF:
            log.warning("%s: consumer error: %s", self.name, err)
        return False


def _where(m: Message) -> str:
    return f"{m.topic()}[{m.partition()}]@{m.offset()}"

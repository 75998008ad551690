"""Transactional outbox, the transport side: the relay that publishes rows after commit, and re-queueing.

Rows are written by a service's :class:`~common.publishing.Publisher` in the transaction that makes the change.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Iterable

from django.db import connection, transaction
from django.db.models import F, Max, QuerySet, Subquery
from django.utils import timezone

from common import metrics
from common.correlation import bound
from common.db import OUTBOX_CHANNEL, Wakeup, placeholders, select_models
from common.kafka.producer import Outgoing, Producer
from common.models import OutboxMessage
from common.workers import poll_loop

log = logging.getLogger("palmetto.outbox")


def outbox_latest(model: type[OutboxMessage], order_ids: Iterable[uuid.UUID]) -> QuerySet[OutboxMessage]:
    """The newest outbox row of each event type of each of these orders, oldest first (none for an
    order that never published anything).

    Per event type, not just the newest row: one transaction may queue two events of an order
    (DELIVERED then the courier's CashCollected) and Kafka may lose both, and a card order's
    OrderPlaced is followed by its payment decision; the newest row alone would leave the other
    unpublished. The newest of one type is enough (a later status supersedes earlier ones).
    """
    newest = (
        model.objects.filter(order_id__in=list(order_ids))
        .order_by()
        .values("order_id", "event_type")
        .annotate(newest=Max("id"))
    )
    return model.objects.filter(id__in=Subquery(newest.values("newest"))).order_by("id")


@transaction.atomic
def outbox_republish_latest(model: type[OutboxMessage], order_ids: Iterable[uuid.UUID]) -> list[OutboxMessage]:
    """Queue the newest outbox row of each event type of each of these orders (:func:`outbox_latest`)
    for publication again; return the rows re-queued.

    The row is published again byte for byte -- same ``event_id`` -- so a
    consumer that already applied it finds it in its inbox and skips it, and
    one that never received it applies it now. Only rows already sent are
    re-queued (one UPDATE setting ``sent_at`` to NULL); a newest row still
    unsent is queued already. The returned objects show the rows as they were
    before (``sent_at`` still set).
    """
    rows = list(outbox_latest(model, order_ids).filter(sent_at__isnull=False).select_for_update())
    model.objects.filter(id__in=[row.id for row in rows]).update(sent_at=None)
    return rows


# How librdkafka words a refusal by the broker's authorizer (TOPIC_AUTHORIZATION_FAILED and friends).
REFUSED_MARKER = "AUTHORIZATION_FAILED"


def outbox_refused(model: type[OutboxMessage]) -> str | None:
    """Why Kafka refuses this service's unsent events, or None when it refuses none.

    A refused write is kept unsent and retried, never dropped; this says so to
    ``/readyz`` so an operator sees it instead of a silently growing outbox.
    """
    refused = model.objects.filter(sent_at__isnull=True, last_error__contains=REFUSED_MARKER)
    first = refused.order_by("id").first()
    if first is None:
        return None
    return (
        f"Kafka refuses to let this service write {first.topic} ({first.last_error}); "
        f"{refused.count()} event(s) kept unsent and retried"
    )


class OutboxRelay:
    """Publishes a service's unsent outbox rows, oldest first, marking each sent on delivery.

    One relay per database publishes at a time (a PostgreSQL advisory lock),
    so several worker hosts can all run one without reordering an order's
    events. A row is retried until Kafka acknowledges it; a crash after the
    send but before the mark publishes it again, which consumers absorb.
    """

    def __init__(
        self,
        model: type[OutboxMessage],
        producer: Producer,
        *,
        topic_prefix: str,
        batch_size: int = 500,
        idle_seconds: float = 5.0,
    ) -> None:
        """Woken by :data:`~common.db.OUTBOX_CHANNEL` when a row is written; ``idle_seconds`` is the safety-net
        poll (for a notification missed while the listener reconnected, and the retry of rows Kafka did not
        take), kept slow because every poll is a transaction at rest."""
        self.model = model
        self.producer = producer
        self.prefix = topic_prefix
        self.batch_size = batch_size
        self.idle_seconds = idle_seconds

    name = "outbox-relay"

    def run(self, stop: threading.Event) -> None:
        poll_loop(self.name, self.publish_batch, stop, self.idle_seconds, wakeup=Wakeup(OUTBOX_CHANNEL),
                  full=self.batch_size)

    def publish_batch(self) -> int:
        """Publish up to ``batch_size`` rows; return how many Kafka acknowledged."""
        with transaction.atomic():
            rows = self._unsent_locked()
            if not rows:
                return 0
            delivery = self.producer.send_all(
                [
                    Outgoing(
                        f"{self.prefix}{row.topic}",
                        row.key.encode(),
                        row.value.encode(),
                        [(name, value.encode()) for name, value in row.headers],
                    )
                    for row in rows
                ]
            )
            sent = {rows[i].id for i in delivery.acknowledged}
            failed = {rows[i].id: err for i, err in delivery.failed.items()}
            # Rows without any report are still in librdkafka's queue; they stay unsent and are retried.
            self._mark_sent(sent)
            metrics.relay_published(rows, sent)
            if failed:
                first_error = next(iter(failed.values())) or "unknown"
                by_error: dict[str, list[int]] = {}
                for row_id, error in failed.items():
                    by_error.setdefault(error or "unknown", []).append(row_id)
                for error, ids in by_error.items():
                    self.model.objects.filter(id__in=ids).update(attempts=F("attempts") + 1, last_error=error)
                # A refusal by the authorizer is a configuration error an operator must fix: say so loudly.
                level = logging.ERROR if REFUSED_MARKER in first_error else logging.WARNING
                log.log(
                    level,
                    "outbox: %d of %d messages not delivered (%s); kept unsent, will retry",
                    len(failed), len(rows), first_error,
                )  # fmt: skip
            if not sent:
                # Nothing got through: retry with a fresh client, in case this one will never reconnect.
                log.warning("outbox: no message of this batch was delivered; replacing the Kafka producer")
                self.producer.reset()
                metrics.client_replaced(metrics.service_name(), "relay")
        for row in rows:
            if row.id in sent:
                with bound(row.key):
                    log.info("published %s for order %s to %s", row.event_type, row.order_id, row.topic)
        return len(sent)

    # The relay's two statements are written once, as SQL: it runs them for every few rows under load,
    # and the ORM compiles a query anew on every call (most of the relay's CPU).

    def _unsent_locked(self) -> list[OutboxMessage]:
        """Up to ``batch_size`` unsent rows, oldest first, read only if this transaction takes the
        table's publishing lock (none while another relay holds it): the lock and the read are one
        round trip. PostgreSQL only; SQLite serialises writers anyway."""
        table = self.model._meta.db_table
        if connection.vendor != "postgresql":
            lock, params = "", [self.batch_size]
        else:
            # An uncorrelated subquery: PostgreSQL evaluates it once, before reading any row.
            lock, params = " AND (SELECT pg_try_advisory_xact_lock(hashtext(%s)))", [table, self.batch_size]
        return select_models(self.model, f"WHERE sent_at IS NULL{lock} ORDER BY id LIMIT %s", params)

    def _mark_sent(self, ids: set[int]) -> None:
        if not ids:
            return
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {self.model._meta.db_table} SET sent_at = %s WHERE id IN ({placeholders(len(ids))})",
                [timezone.now(), *ids],
            )

"""The batch applier without a Kafka client: fake messages and a fake producer, the real PostgreSQL."""

from __future__ import annotations

import uuid

import pytest

from client_app.orders.declaration import SERVICE as CLIENT
from client_app.orders.models import InboxEvent, OrderStatusChange
from common.events import encode
from common.kafka.consumer import Backoff, BatchApplier
from common.lifecycle import Status
from tests.support.factories import status_changed
from tests.support.workers import AcknowledgingProducer, create_order

pytestmark = pytest.mark.django_db
TOPIC = "t.notifications"


class _Message:
    """What the applier reads of a confluent-kafka message."""

    def __init__(self, offset: int, key: bytes | None, value: bytes | None, headers: list) -> None:
        self._offset, self._key, self._value, self._headers = offset, key, value, headers

    def topic(self) -> str:
        return TOPIC

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return self._offset

    def key(self) -> bytes | None:
        return self._key

    def value(self) -> bytes | None:
        return self._value

    def headers(self) -> list:
        return self._headers


def _messages(*envelopes) -> list[_Message]:
    return [_Message(i, *encode(e)) for i, e in enumerate(envelopes)]


def _applier(producer: AcknowledgingProducer) -> BatchApplier:
    return BatchApplier(
        name="client-test", service="client", subscriptions=CLIENT.subscriptions, inbox=InboxEvent, topic_prefix="t.",
        group_id="t.palmetto-client", dead_letters=producer, backoff=Backoff(first=0.01, cap=0.01),
    )  # fmt: skip


def test_a_batch_is_applied_once_with_one_inbox_statement(django_assert_max_num_queries):
    order_id, cid = uuid.uuid4(), "c-batch"
    create_order(order_id, cid)
    accepted = status_changed(order_id, cid, Status.ACCEPTED, 1)
    batch = _messages(accepted, status_changed(order_id, cid, Status.PREPARING, 2), accepted)
    applier = _applier(AcknowledgingProducer())
    # One inbox insert that skips the duplicate, two round trips per status change (a third for ACCEPTED,
    # which is emailed), and the transaction's savepoint pair.
    with django_assert_max_num_queries(1 + 2 * 2 + 1 + 2):
        assert applier.apply(batch) == []
    assert applier.apply(batch) == []  # redelivered: the inbox skips all of it
    assert InboxEvent.objects.count() == 2
    assert list(OrderStatusChange.objects.filter(order_id=order_id).values_list("status", flat=True)) == [
        "ACCEPTED", "PREPARING"
    ]


def test_a_message_a_handler_rejects_is_dead_lettered_and_the_rest_of_the_batch_applied():
    order_id, cid = uuid.uuid4(), "c-mixed"
    create_order(order_id, cid)
    unknown = status_changed(uuid.uuid4(), "c-nobody", Status.ACCEPTED, 1)  # an order the Client App never had
    producer = AcknowledgingProducer()
    batch = [*_messages(status_changed(order_id, cid, Status.ACCEPTED, 1), unknown), _Message(2, b"k", b"not json", [])]
    applier = _applier(producer)
    dead = applier.apply(batch)
    assert [r.message for r in dead] == batch[1:]
    applier.send_dead_letters(dead)
    assert [m.topic for m in producer.sent] == ["t.notifications.DLT", "t.notifications.DLT"]
    assert [m.value for m in producer.sent] == [batch[1].value(), b"not json"]
    origin = [dict(m.headers)["dlt.offset"] for m in producer.sent]
    assert origin == [b"1", b"2"] and all(dict(m.headers)["dlt.group"] == b"t.palmetto-client" for m in producer.sent)
    assert set(InboxEvent.objects.values_list("event_id", flat=True)) == {
        uuid.UUID(dict(batch[0].headers())["event_id"].decode())
    }
    assert OrderStatusChange.objects.filter(order_id=order_id, status="ACCEPTED").count() == 1

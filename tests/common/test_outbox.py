"""The outbox relay without Kafka: a fake producer, the real PostgreSQL."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from django.db import connection

from common.lifecycle import Status
from common.outbox import OutboxRelay
from palmetto_app.kitchen.models import OutboxMessage
from palmetto_app.kitchen.services import publisher
from tests.support.factories import status_changed
from tests.support.workers import AcknowledgingProducer

pytestmark = pytest.mark.django_db


def test_the_relay_publishes_in_order_and_waits_while_another_relay_holds_the_tables_lock():
    order_id = uuid.uuid4()
    events = [status_changed(order_id, "c-relay", status, n) for n, status in enumerate(
        [Status.ACCEPTED, Status.PREPARING, Status.READY_FOR_DELIVERY], start=1)]
    for envelope in events:
        publisher.write(envelope)
    producer = AcknowledgingProducer()
    relay = OutboxRelay(OutboxMessage, producer, topic_prefix="t.")
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    with psycopg.connect(**params, autocommit=True) as other:  # another worker host's relay, mid-batch
        other.execute("SELECT pg_advisory_lock(hashtext(%s))", [OutboxMessage._meta.db_table])
        assert relay.publish_batch() == 0
        assert producer.sent == [] and OutboxMessage.objects.filter(sent_at__isnull=True).count() == 3
    assert relay.publish_batch() == 3
    assert [m.headers[0] for m in producer.sent] == [("event_id", str(e.event_id).encode()) for e in events]
    assert all(m.topic == "t.notifications" for m in producer.sent)
    assert not OutboxMessage.objects.filter(sent_at__isnull=True).exists()
    assert relay.publish_batch() == 0

"""Run the platform's workers in-process for integration tests: a pinned consumer, or any worker, in a thread."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal

from client_app.orders.models import Order
from common.declaration import Service
from common.kafka.consumer import Backoff, PartitionConsumer, Subscription
from common.kafka.producer import Delivery, Producer
from common.workers import Worker


def producer(bootstrap: str, client_id: str = "tests") -> Producer:
    return Producer(bootstrap, client_id=client_id, message_timeout_ms=10_000)


class AcknowledgingProducer:
    """A fake :class:`~common.kafka.producer.Producer` for unit tests: acknowledges every message and keeps it."""

    def __init__(self) -> None:
        self.sent = []

    def send_all(self, messages) -> Delivery:
        self.sent.extend(messages)
        return Delivery(acknowledged=list(range(len(messages))), failed={}, unreported=[])


@contextmanager
def running(worker: Worker) -> Iterator[None]:
    """Run ``worker`` in a thread for the block; stop it after and require that it stopped."""
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(30)
        assert not thread.is_alive(), "worker did not stop within 30s"


def consumer_for(service: Service, partition: int, bootstrap: str, prefix: str,
                 subscriptions: tuple[Subscription, ...] | None = None) -> PartitionConsumer:
    """``service``'s consumer of ``partition``, with a quick back-off so retries show within a test."""
    return PartitionConsumer(
        service=service.name,
        subscriptions=subscriptions or service.subscriptions,
        inbox=service.inbox,
        partition=partition,
        bootstrap_servers=bootstrap,
        topic_prefix=prefix,
        dead_letters=producer(bootstrap, "tests-dlt"),
        publisher=service.publisher,
        backoff=Backoff(first=0.05, cap=0.2),
    )


def create_order(order_id: uuid.UUID, correlation_id: str, **fields) -> Order:
    """A Client App order row as if it had been placed (no outbox event)."""
    return Order.objects.create(
        id=order_id, correlation_id=correlation_id, customer_name="Ada", customer_phone="+1 555 0100",
        street="12 Harbour Road", city="Charleston", postal_code="29401", currency="EUR",
        total_amount=Decimal("17.00"), delivery_fee=Decimal("3.50"), grand_total=Decimal("20.50"), **fields,
    )

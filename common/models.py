"""Abstract outbox and inbox tables; each service makes them concrete in its own database.

They are abstract so that every service owns its tables (and a combined test
project can hold all three side by side without mixing them).
"""

from __future__ import annotations

from django.db import models


class OutboxMessage(models.Model):
    """An event written in the same transaction as the change it announces.

    The relay publishes unsent rows in ``id`` order and sets ``sent_at`` only
    after Kafka acknowledged the message, so a rolled-back change publishes
    nothing and a committed one is published eventually.
    """

    id = models.BigAutoField(primary_key=True)
    topic = models.CharField(max_length=100, help_text="Logical topic name (without prefix).")
    key = models.CharField(max_length=64, help_text="Message key: the order's correlation ID.")
    event_id = models.UUIDField(unique=True)
    event_type = models.CharField(max_length=64)
    order_id = models.UUIDField(db_index=True)
    value = models.TextField(help_text="The encoded JSON envelope, exactly as published.")
    headers = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)

    class Meta:
        abstract = True
        ordering = ("id",)
        indexes = [
            models.Index(fields=["id"], condition=models.Q(sent_at__isnull=True), name="%(app_label)s_outbox_unsent"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.order_id} ({'sent' if self.sent_at else 'pending'})"


class InboxEvent(models.Model):
    """A consumed event, recorded in the same transaction as its effect.

    The unique ``event_id`` makes redelivery harmless; topic, partition and
    offset let an operator compare what was applied with committed offsets.
    """

    event_id = models.UUIDField(unique=True)
    event_type = models.CharField(max_length=64)
    order_id = models.UUIDField(db_index=True)
    correlation_id = models.CharField(max_length=64, db_index=True)
    topic = models.CharField(max_length=200)
    partition = models.PositiveSmallIntegerField()
    offset = models.BigIntegerField()
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        abstract = True
        ordering = ("id",)

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id} @ {self.topic}[{self.partition}]:{self.offset}"

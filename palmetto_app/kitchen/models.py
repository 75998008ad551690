"""The kitchen's records: a ticket per order, and what the kitchen cannot make today."""

from __future__ import annotations

from django.db import models

from common import models as common_models
from common.deployment import PALMETTO
from common.lifecycle import PaymentMethod, Status, announced_by

# A ticket's stage is the last status the kitchen announced for its order, or PLACED while a card
# order waits for its payment (the kitchen announces nothing until the card is charged or declined).
STAGE_CHOICES = [(Status.PLACED.value, "Waiting for payment")] + [
    (status.value, status.label) for status in announced_by(PALMETTO.name)
]


class Ticket(models.Model):
    """An order on the kitchen's rail, with the durable timer of its next stage."""

    order_id = models.UUIDField(unique=True)
    correlation_id = models.CharField(max_length=64, db_index=True)
    customer_name = models.CharField(max_length=100)
    delivery_address = models.CharField(max_length=330)
    items = models.JSONField(help_text="[{item_id, name, quantity}] as ordered.")
    item_count = models.PositiveIntegerField()
    stage = models.CharField(max_length=32, choices=STAGE_CHOICES)
    # Sequence number of the last status event this ticket published.
    sequence = models.PositiveIntegerField(default=0)
    reason = models.CharField(max_length=300, blank=True)
    # How the order is paid; for cash, READY_FOR_DELIVERY tells the courier ``amount`` to collect.
    payment_method = models.CharField(
        max_length=8, choices=[(m.value, m.value.title()) for m in PaymentMethod], default=PaymentMethod.CASH
    )
    amount = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    # When the next stage is due; null once the ticket left the kitchen. A restart resumes from here.
    next_stage_at = models.DateTimeField(null=True, blank=True, db_index=True)
    received_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("-received_at",)

    def __str__(self) -> str:
        return f"Ticket {self.order_id} ({self.stage})"


class UnavailableItem(models.Model):
    """A menu item the kitchen cannot make right now; orders containing it are rejected."""

    item_id = models.CharField(max_length=64, unique=True)
    reason = models.CharField(max_length=200, default="out of stock")
    since = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.item_id}: {self.reason}"


class OutboxMessage(common_models.OutboxMessage):
    """This service's outbox (children of an abstract model inherit its Meta)."""


class InboxEvent(common_models.InboxEvent):
    """This service's inbox."""

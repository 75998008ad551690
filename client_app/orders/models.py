"""The Client App's records: the menu, customers' orders and what happened to them."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from common import models as common_models
from common.lifecycle import Status

STATUS_CHOICES = [(s.value, s.value.replace("_", " ").title()) for s in Status]


class MenuItem(models.Model):
    """Something the pizzeria sells, at one price in the shop's currency."""

    class Category(models.TextChoices):
        PIZZA = "pizza", "Pizza"
        SIDE = "side", "Side"
        DESSERT = "dessert", "Dessert"
        DRINK = "drink", "Drink"

    item_id = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=100)
    category = models.CharField(max_length=16, choices=Category.choices)
    size = models.CharField(max_length=32, blank=True)
    description = models.CharField(max_length=300, blank=True)
    price = models.DecimalField(max_digits=8, decimal_places=2)
    available = models.BooleanField(default=True)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ("position", "item_id")

    def __str__(self) -> str:
        return f"{self.name} {self.size}".strip()


class Order(models.Model):
    class Cancellation(models.TextChoices):
        NONE = "", "Not requested"
        REQUESTED = "REQUESTED", "Requested, waiting for the kitchen"
        CANCELLED = "CANCELLED", "Cancelled"
        REFUSED = "REFUSED", "Refused by the kitchen"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    correlation_id = models.CharField(max_length=64, unique=True)
    # Null only for orders placed before customer accounts existed.
    customer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, related_name="orders", on_delete=models.PROTECT
    )
    customer_name = models.CharField(max_length=100)
    customer_phone = models.CharField(max_length=32)
    street = models.CharField(max_length=200)
    city = models.CharField(max_length=100)
    postal_code = models.CharField(max_length=16)
    currency = models.CharField(max_length=3)
    total_amount = models.DecimalField(max_digits=10, decimal_places=2)
    delivery_fee = models.DecimalField(max_digits=8, decimal_places=2)
    grand_total = models.DecimalField(max_digits=10, decimal_places=2)
    status = models.CharField(max_length=32, choices=STATUS_CHOICES, default=Status.PLACED)
    # Sequence of the last applied status event; only higher ones may move the order.
    status_sequence = models.PositiveIntegerField(default=0)
    cancellation = models.CharField(max_length=16, choices=Cancellation.choices, default=Cancellation.NONE, blank=True)
    cancellation_reason = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("-created_at",)

    def __str__(self) -> str:
        return f"Order {self.id} ({self.status})"


class OrderItem(models.Model):
    order = models.ForeignKey(Order, related_name="items", on_delete=models.CASCADE)
    item_id = models.CharField(max_length=64)
    name = models.CharField(max_length=140)
    quantity = models.PositiveIntegerField()
    unit_price = models.DecimalField(max_digits=8, decimal_places=2)
    line_total = models.DecimalField(max_digits=10, decimal_places=2)

    class Meta:
        ordering = ("id",)

    def __str__(self) -> str:
        return f"{self.quantity} x {self.name}"


class OrderStatusChange(models.Model):
    """One entry of the order's history, oldest first: an applied status change (``kind`` STATUS),
    or a cancellation request and its refusal, or a payment step, which leave the status as it was."""

    class Kind(models.TextChoices):
        STATUS = "STATUS", "Status change"
        CANCELLATION_REQUESTED = "CANCELLATION_REQUESTED", "Cancellation requested"
        CANCELLATION_REFUSED = "CANCELLATION_REFUSED", "Cancellation refused"
        PAYMENT_CHARGED = "PAYMENT_CHARGED", "Card charged"
        PAYMENT_DECLINED = "PAYMENT_DECLINED", "Card declined"
        PAYMENT_REFUNDED = "PAYMENT_REFUNDED", "Card refunded"
        CASH_COLLECTED = "CASH_COLLECTED", "Cash collected"

    order = models.ForeignKey(Order, related_name="history", on_delete=models.CASCADE)
    kind = models.CharField(max_length=32, choices=Kind.choices, default=Kind.STATUS)
    status = models.CharField(max_length=32, choices=STATUS_CHOICES)
    sequence = models.PositiveIntegerField()
    occurred_at = models.DateTimeField(help_text="When the service that made the change made it.")
    recorded_at = models.DateTimeField(auto_now_add=True)
    source = models.CharField(max_length=16)
    event_id = models.UUIDField(null=True, blank=True, unique=True)
    reason = models.CharField(max_length=300, blank=True)
    courier = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ("sequence", "id")
        constraints = [
            models.UniqueConstraint(
                fields=["order", "status"], condition=models.Q(kind="STATUS"), name="orders_one_entry_per_status"
            )
        ]

    def __str__(self) -> str:
        return f"{self.status} #{self.sequence}"


class IdempotencyKey(models.Model):
    """A customer's ``Idempotency-Key`` and the order it created, so a retried POST returns that order."""

    customer = models.ForeignKey(settings.AUTH_USER_MODEL, related_name="+", on_delete=models.CASCADE)
    key = models.CharField(max_length=100)
    request_hash = models.CharField(max_length=64, help_text="SHA-256 of the canonical request body.")
    order = models.OneToOneField(Order, related_name="+", on_delete=models.CASCADE)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["customer", "key"], name="orders_one_order_per_idempotency_key")]


class EmailNotification(models.Model):
    """An email to the customer about a status of their order: a durable queue row.

    Written in the transaction that applies the status (so it exists exactly when the status
    does), unique per order and status (so a status is never announced twice), and sent later
    by the ``mailer`` job of ``runconsumers``, which marks it sent or schedules a retry.
    """

    order = models.ForeignKey(Order, related_name="emails", on_delete=models.CASCADE)
    status = models.CharField(max_length=32, choices=STATUS_CHOICES)
    to = models.EmailField()
    subject = models.CharField(max_length=200)
    body = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    # Not before this moment: now when queued, later after a failed attempt (back-off).
    next_attempt_at = models.DateTimeField(db_index=True)
    attempts = models.PositiveIntegerField(default=0, help_text="Failed attempts so far.")
    last_error = models.TextField(blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("id",)
        constraints = [models.UniqueConstraint(fields=["order", "status"], name="orders_one_email_per_status")]
        indexes = [
            models.Index(
                fields=["next_attempt_at"], condition=models.Q(sent_at__isnull=True), name="orders_email_unsent"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.status} email to {self.to} ({'sent' if self.sent_at else 'pending'})"


class OutboxMessage(common_models.OutboxMessage):
    """This service's outbox (children of an abstract model inherit its Meta)."""


class InboxEvent(common_models.InboxEvent):
    """This service's inbox."""

"""The Client App's records: the menu, customers' orders and what happened to them."""

from __future__ import annotations

import uuid

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
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    correlation_id = models.CharField(max_length=64, unique=True)
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
    """One applied status change: the order's history, oldest first."""

    order = models.ForeignKey(Order, related_name="history", on_delete=models.CASCADE)
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
        constraints = [models.UniqueConstraint(fields=["order", "status"], name="orders_one_entry_per_status")]

    def __str__(self) -> str:
        return f"{self.status} #{self.sequence}"


class OutboxMessage(common_models.OutboxMessage):
    class Meta(common_models.OutboxMessage.Meta):
        pass


class InboxEvent(common_models.InboxEvent):
    class Meta(common_models.InboxEvent.Meta):
        pass

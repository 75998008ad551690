"""The money: each customer's Palmetto card (a wallet with a balance), its append-only ledger,
and each order's payment.

The database itself refuses what must never happen: a negative balance, a ledger entry with the
wrong sign, a second charge or a second refund of one order. The services keep
``Wallet.balance`` equal to the sum of the wallet's entries, in one transaction with the row locked.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from client_app.orders.models import Order
from common.lifecycle import PaymentMethod, PaymentStatus

MONEY = {"max_digits": 12, "decimal_places": 2}


class Wallet(models.Model):
    """A customer's Palmetto card: stored value, topped up by staff, charged by card orders."""

    customer = models.OneToOneField(settings.AUTH_USER_MODEL, related_name="wallet", on_delete=models.PROTECT)
    currency = models.CharField(max_length=3)
    # Always the sum of this wallet's ledger entries (kept so by the services, under a row lock).
    balance = models.DecimalField(default=0, **MONEY)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("customer__username",)
        constraints = [models.CheckConstraint(condition=models.Q(balance__gte=0), name="payments_balance_not_negative")]

    def __str__(self) -> str:
        return f"{self.customer}: {self.balance} {self.currency}"


class LedgerEntry(models.Model):
    """One movement of money on a wallet, never changed or deleted: positive for money in
    (``TOP_UP``, ``REFUND``), negative for money out (``CHARGE``)."""

    class Kind(models.TextChoices):
        TOP_UP = "TOP_UP", "Top-up by staff"
        CHARGE = "CHARGE", "Charge for an order"
        REFUND = "REFUND", "Refund of an order"

    wallet = models.ForeignKey(Wallet, related_name="entries", on_delete=models.PROTECT)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    amount = models.DecimalField(**MONEY)
    reason = models.CharField(max_length=200)
    order = models.ForeignKey(Order, null=True, blank=True, related_name="ledger_entries", on_delete=models.PROTECT)
    # The staff member who made a top-up; empty for entries the platform made.
    created_by = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ("-created_at", "-id")
        verbose_name_plural = "ledger entries"
        constraints = [
            # At most one charge and one refund per order, whatever is redelivered or replayed.
            models.UniqueConstraint(
                fields=["order", "kind"],
                condition=models.Q(kind__in=["CHARGE", "REFUND"]),
                name="payments_one_charge_one_refund_per_order",
            ),
            models.CheckConstraint(
                condition=(models.Q(kind="CHARGE", amount__lt=0, order__isnull=False))
                | (models.Q(kind="REFUND", amount__gt=0, order__isnull=False))
                | models.Q(kind="TOP_UP", amount__gt=0),
                name="payments_entry_sign_matches_kind",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount}"


class Payment(models.Model):
    """How one order is paid and where that stands (:class:`~common.lifecycle.PaymentStatus`)."""

    order = models.OneToOneField(Order, related_name="payment", on_delete=models.PROTECT)
    method = models.CharField(max_length=8, choices=[(m.value, m.value.title()) for m in PaymentMethod])
    status = models.CharField(
        max_length=16, choices=[(s.value, s.value.replace("_", " ").title()) for s in PaymentStatus]
    )
    amount = models.DecimalField(**MONEY)
    currency = models.CharField(max_length=3)
    # Why it was declined, voided or refunded.
    reason = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("-created_at",)
        constraints = [models.CheckConstraint(condition=models.Q(amount__gte=0), name="payments_amount_not_negative")]

    def __str__(self) -> str:
        return f"{self.method} {self.amount} {self.currency} ({self.status})"

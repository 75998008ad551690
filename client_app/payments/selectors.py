"""Reads of the payments app."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet

from .models import LedgerEntry, Wallet


def wallet_of(customer: AbstractBaseUser) -> Wallet | None:
    return Wallet.objects.filter(customer_id=customer.pk).first()


def ledger_of(customer: AbstractBaseUser) -> QuerySet[LedgerEntry]:
    """The customer's ledger entries, newest first (none without a wallet)."""
    return LedgerEntry.objects.filter(wallet__customer_id=customer.pk).select_related("order").order_by(
        "-created_at", "-id"
    )

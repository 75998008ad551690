"""Reads of the Client App."""

from __future__ import annotations

import uuid

from django.db.models import QuerySet

from .models import MenuItem, Order


def order_get(order_id: uuid.UUID) -> Order | None:
    """The order with its items and history loaded, or None."""
    return Order.objects.prefetch_related("items", "history").filter(id=order_id).first()


def menu_list() -> QuerySet[MenuItem]:
    return MenuItem.objects.filter(available=True)

"""Reads of the Client App."""

from __future__ import annotations

import uuid

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet

from .models import MenuItem, Order


def orders_visible_to(user: AbstractBaseUser | AnonymousUser, *, status: str | None = None) -> QuerySet[Order]:
    """Staff see every order, customers their own, anyone else nothing; newest first."""
    orders = Order.objects.all() if user.is_staff else Order.objects.filter(customer_id=user.pk or -1)
    if status:
        orders = orders.filter(status=status)
    return orders.order_by("-created_at", "id")


def order_get(order_id: uuid.UUID, *, visible_to: AbstractBaseUser | AnonymousUser | None = None) -> Order | None:
    """The order with its items and history loaded, or None (also when ``visible_to`` may not see it)."""
    orders = Order.objects.all() if visible_to is None else orders_visible_to(visible_to)
    return orders.prefetch_related("items", "history").filter(id=order_id).first()


def menu_list() -> QuerySet[MenuItem]:
    return MenuItem.objects.filter(available=True)

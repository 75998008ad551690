"""Reads of the Client App."""

from __future__ import annotations

import uuid
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet

from common.lifecycle import TERMINAL

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
    return orders.select_related("payment").prefetch_related("items", "history").filter(id=order_id).first()


def menu_list() -> QuerySet[MenuItem]:
    return MenuItem.objects.filter(available=True)


def orders_stuck(since: datetime, before: datetime) -> list[uuid.UUID]:
    """Ids of unfinished orders last changed in [since, before], least recently changed first.

    ``updated_at`` moves with everything the Client App does or learns about an
    order (placed, cancellation asked, a status applied), so an unfinished
    order that has not moved for a while may be waiting on our OrderPlaced or
    CancellationRequested that the kitchen never received. Finished orders
    wait for nothing.
    """
    stuck = Order.objects.exclude(status__in=TERMINAL).filter(updated_at__gte=since, updated_at__lte=before)
    return list(stuck.order_by("updated_at", "id").values_list("id", flat=True))

"""Placing an order: price it, store it as PLACED, announce ``OrderPlaced`` -- once per idempotency key."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction

from client_app.payments.services import payment_open
from common import correlation, events
from common.db import insert_each
from common.errors import DomainError
from common.lifecycle import PaymentMethod, Status

from ..models import IdempotencyKey, Order, OrderItem, OrderStatusChange
from . import publisher
from .pricing import LineRequest, Priced, order_price

log = logging.getLogger("palmetto.client.orders")


class CorrelationIdInUse(DomainError):
    """Another order already carries this correlation ID (one ID per order)."""

    status, code = 409, "correlation_id_in_use"


class IdempotencyKeyReused(DomainError):
    """The customer sent this ``Idempotency-Key`` before with a different request."""

    status, code = 422, "idempotency_key_reused"


class _ConcurrentKey(Exception):
    """Internal: another transaction stored the same idempotency key first."""


@dataclass(frozen=True)
class Idempotency:
    """A client's ``Idempotency-Key`` and a fingerprint of its request: same key, same request, same order."""

    key: str
    fingerprint: str


@dataclass(frozen=True)
class PaymentRequest:
    """How the customer wants to pay; ``amount``, when stated, must equal the grand total."""

    method: PaymentMethod = PaymentMethod.CASH
    amount: Decimal | None = None


@dataclass(frozen=True)
class Placed:
    order: Order  # with its items and history loaded
    replayed: bool  # True when an Idempotency-Key returned an order placed earlier


def order_place(
    *,
    customer_account: User,
    correlation_id: str,
    customer: events.Customer,
    address: events.DeliveryAddress,
    lines: list[LineRequest],
    currency: str | None = None,
    total_amount: Decimal | None = None,
    payment: PaymentRequest | None = None,
    idempotency: Idempotency | None = None,
) -> Placed:
    """Price the order from the menu, store it as PLACED and queue ``OrderPlaced``, in one transaction.

    ``payment`` says how it is paid (cash on delivery when absent); see
    :func:`client_app.payments.services.payment_open` for its rules.

    With ``idempotency`` the customer's earlier order under that key is returned instead
    (``replayed``), provided the fingerprint matches. Raises
    :class:`~.pricing.OrderRejected` for a request that breaks a rule,
    :class:`CorrelationIdInUse` when the correlation ID belongs to another order and
    :class:`IdempotencyKeyReused` when the key came with another request.
    """
    arguments = dict(
        customer_account=customer_account, correlation_id=correlation_id, customer=customer, address=address,
        lines=lines, currency=currency, total_amount=total_amount, idempotency=idempotency,
        payment=payment or PaymentRequest(),
    )
    try:
        return _place_once(**arguments)
    except _ConcurrentKey:
        # A concurrent request with the same key committed first: ours rolled back; answer with theirs.
        return _place_once(**arguments)


@transaction.atomic
def _place_once(*, customer_account: User, correlation_id: str, customer: events.Customer,
                address: events.DeliveryAddress, lines: list[LineRequest], currency: str | None,
                total_amount: Decimal | None, payment: PaymentRequest,
                idempotency: Idempotency | None) -> Placed:
    if idempotency is not None:
        earlier = _earlier_order(customer_account, idempotency)
        if earlier is not None:
            return Placed(earlier, replayed=True)
    priced = order_price(lines, currency=currency, total_amount=total_amount)
    order = _create(customer_account, correlation_id, customer, address, priced, idempotency)
    terms = payment_open(order=order, method=payment.method, amount=payment.amount)
    placed = _announce_placed(
        order, customer, address, priced, events.PaymentTerms(method=terms.method, amount=terms.amount)
    )
    log.info("order %s placed: %d items, %s %s", order.id, len(priced.items), order.grand_total, order.currency)
    return Placed(_loaded(order, priced.items, [placed]), replayed=False)


def _earlier_order(customer: User, idempotency: Idempotency) -> Order | None:
    earlier = IdempotencyKey.objects.select_related("order").filter(customer=customer, key=idempotency.key).first()
    if earlier is None:
        return None
    if earlier.request_hash != idempotency.fingerprint:
        raise IdempotencyKeyReused(
            "This Idempotency-Key was used with a different request body",
            errors={"Idempotency-Key": ["already used with a different body"]},
        )
    return earlier.order


def _create(account: User, correlation_id: str, customer: events.Customer, address: events.DeliveryAddress,
            priced: Priced, idempotency: Idempotency | None) -> Order:
    """The order, its items and its idempotency key as rows.

    Rows of the request's hot path are written with :func:`~common.db.insert_each`, which skips
    the ORM's insert compiler (``Model.save`` and ``bulk_create`` were a sixth of a POST's CPU).
    """
    try:
        # No savepoint: a duplicate correlation ID ends the whole transaction anyway (the error propagates).
        order = Order(
            customer=account, correlation_id=correlation_id,
            customer_name=customer.name, customer_phone=customer.phone,
            street=address.street, city=address.city, postal_code=address.postal_code,
            currency=priced.currency, total_amount=priced.total, delivery_fee=priced.delivery_fee,
            grand_total=priced.grand_total,
        )
        insert_each(Order, [order])
    except IntegrityError:
        raise CorrelationIdInUse(f"{correlation.HEADER} {correlation_id} belongs to another order") from None
    if idempotency is not None:
        try:
            with transaction.atomic():
                IdempotencyKey.objects.create(
                    customer=account, key=idempotency.key, request_hash=idempotency.fingerprint, order=order
                )
        except IntegrityError:
            raise _ConcurrentKey() from None
    for item in priced.items:
        item.order = order
    insert_each(OrderItem, priced.items)
    return order


def _loaded(order: Order, items: list[OrderItem], history: list[OrderStatusChange]) -> Order:
    """``order`` with its items and history attached as if prefetched (what ``selectors.order_get`` loads),
    so answering the request that placed it reads nothing back."""
    cache = order.__dict__.setdefault("_prefetched_objects_cache", {})
    for name, rows in (("items", items), ("history", history)):
        loaded = getattr(order, name).all()
        loaded._result_cache, loaded._prefetch_done = list(rows), True
        cache[name] = loaded
    return order


def _announce_placed(
    order: Order, customer: events.Customer, address: events.DeliveryAddress, priced: Priced,
    payment: events.PaymentTerms,
) -> OrderStatusChange:
    """Queue ``OrderPlaced`` and record PLACED as the first entry of the order's history."""
    envelope = publisher.publish(
        events.OrderPlaced(
            customer=customer,
            delivery_address=address,
            items=[events.OrderLine(i.item_id, i.name, i.quantity, i.unit_price) for i in priced.items],
            currency=priced.currency,
            total_amount=priced.total,
            delivery_fee=priced.delivery_fee,
            grand_total=priced.grand_total,
            payment=payment,
        ),
        order_id=order.id,
        correlation_id=order.correlation_id,
    )
    placed = OrderStatusChange(
        order=order, status=Status.PLACED, sequence=0, occurred_at=envelope.occurred_at, source=envelope.source,
        event_id=envelope.event_id,
    )
    insert_each(OrderStatusChange, [placed])
    return placed

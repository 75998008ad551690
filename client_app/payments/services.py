"""Writes of the payments step: open an order's payment, charge or decline a card order, refund
a charged order that failed, record cash the courier collected, top up a wallet.

Every change of a balance locks the wallet row (``select_for_update``) and writes its ledger entry
in the same transaction, so concurrent orders of one customer are charged one after the other and
a balance never goes below zero (the database's check constraint is the last line). Locks are
always taken in one order -- order, payment, wallet -- so two transactions never deadlock on them.
Events leave through the Client App's outbox (:data:`client_app.orders.services.publisher`).
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, transaction
from django.utils import timezone

from client_app.orders.models import Order, OrderStatusChange
from client_app.orders.services import publisher
from common import events
from common.db import insert_each
from common.errors import DomainError, InvalidEvent
from common.lifecycle import (
    PAYMENT_OPENS_AS,
    TERMINAL,
    PaymentMethod,
    PaymentStatus,
    can_pay_move,
)

from .models import LedgerEntry, Payment, Wallet

log = logging.getLogger("palmetto.client.payments")

CENT = Decimal("0.01")
# Staff top-ups above this are typos, not gift cards.
MAX_TOP_UP = Decimal("10000.00")


class NoCard(DomainError):
    """A card order from a customer who has no Palmetto card (no wallet)."""

    status, code = 402, "no_card"


class PaymentInvalid(DomainError):
    """The payment part of a well-formed request disagrees with the order (a stated amount that is not its
    grand total); ``field`` names it. 409, like a price that disagrees with the menu."""

    status, code = 409, "conflicts_with_order"


def payment_open(*, order: Order, method: PaymentMethod, amount: Decimal | None = None) -> Payment:
    """Record how ``order`` is paid, inside the transaction that places it.

    ``amount``, when the client states it, must equal the order's grand total. A card order needs
    the customer's wallet; whether its balance suffices is decided later, as a step of the event
    flow (:func:`payment_charge`). Raises :class:`PaymentInvalid` or :class:`NoCard`.
    """
    if amount is not None and amount != order.grand_total:
        raise PaymentInvalid(
            f"payment.amount is {order.grand_total} for this order, not {amount}", field="payment.amount"
        )
    if method == PaymentMethod.CARD and not Wallet.objects.filter(customer_id=order.customer_id).exists():
        raise NoCard("You have no Palmetto card; pay cash on delivery or ask us for a card", field="payment.method")
    payment = Payment(
        order=order, method=method, status=PAYMENT_OPENS_AS[method], amount=order.grand_total, currency=order.currency
    )
    insert_each(Payment, [payment])  # the ORM's insert compiler costs more than the rest of this on a POST
    return payment


def _announced(order: Order, kind: str, envelope: events.Envelope, reason: str = "") -> None:
    """The history entry of an event this service just queued; it leaves the order's status as it was."""
    OrderStatusChange.objects.create(
        order=order, kind=kind, status=order.status, sequence=order.status_sequence, occurred_at=envelope.occurred_at,
        source=envelope.source, event_id=envelope.event_id, reason=reason[:300],
    )


def _move(payment: Payment, status: PaymentStatus, reason: str = "") -> None:
    if not can_pay_move(PaymentStatus(payment.status), status):
        raise RuntimeError(f"payment of order {payment.order_id}: {payment.status} -> {status} is not a legal move")
    payment.status, payment.reason = status, reason[:300]
    payment.save(update_fields=["status", "reason", "updated_at"])


def _locked(order_id: uuid.UUID, correlation_id: str) -> tuple[Order, Payment | None]:
    order = Order.objects.select_for_update().filter(id=order_id).first()
    if order is None or order.correlation_id != correlation_id:
        raise InvalidEvent(f"no order {order_id} with correlation ID {correlation_id} in the Client App")
    return order, Payment.objects.select_for_update().filter(order=order).first()


def payment_charge(*, order_id: uuid.UUID, correlation_id: str) -> PaymentStatus | None:
    """Decide a card order's payment; runs in the consumer's transaction when the Client App reads
    its own ``OrderPlaced`` back from ``orders``.

    Charges the wallet (ledger ``CHARGE``, ``PaymentCharged``) when the balance covers the amount,
    declines (``PaymentDeclined`` with the reason) when it does not. An order that already ended
    (the kitchen rejected or cancelled it first) is never charged: its payment is ``VOIDED``.
    Anything but a pending card payment is left alone, so redelivery and replay charge nothing
    twice. Returns the new status, or None when nothing changed.
    """
    order, payment = _locked(order_id, correlation_id)
    if payment is None or payment.status != PaymentStatus.PENDING:
        return None
    if order.status in TERMINAL:
        _move(payment, PaymentStatus.VOIDED, f"order {order.status} before the charge")
        log.info("order %s: %s before its charge; nothing charged", order.id, order.status)
        return PaymentStatus.VOIDED
    wallet = Wallet.objects.select_for_update().get(customer_id=order.customer_id)
    if wallet.balance < payment.amount:
        reason = f"insufficient balance: {wallet.balance} {wallet.currency} available, {payment.amount} due"
        _move(payment, PaymentStatus.DECLINED, reason)
        envelope = publisher.publish(
            events.PaymentDeclined(amount=payment.amount, reason=reason), order_id=order.id,
            correlation_id=order.correlation_id,
        )
        _announced(order, OrderStatusChange.Kind.PAYMENT_DECLINED, envelope, reason)
        log.info("order %s: payment declined (%s)", order.id, reason)
        return PaymentStatus.DECLINED
    _post(wallet, LedgerEntry.Kind.CHARGE, -payment.amount, f"order {order.id}", order=order)
    _move(payment, PaymentStatus.CHARGED)
    envelope = publisher.publish(
        events.PaymentCharged(amount=payment.amount), order_id=order.id, correlation_id=order.correlation_id
    )
    _announced(order, OrderStatusChange.Kind.PAYMENT_CHARGED, envelope)
    log.info("order %s: charged %s %s", order.id, payment.amount, payment.currency)
    return PaymentStatus.CHARGED


def payment_settle_failed_order(*, order: Order, reason: str) -> PaymentStatus | None:
    """Compensate an order that just ended CANCELLED or REJECTED; call in the transaction that
    applies that status, with ``order`` locked.

    A charged card payment is refunded (ledger ``REFUND``, ``PaymentRefunded``); a pending one is
    voided so a late charge decision charges nothing. Runs at most once per order: the order moves
    to a terminal status once, the payment's status is checked under its lock, and the ledger
    allows one refund per order. Returns the new status, or None when nothing changed.
    """
    payment = Payment.objects.select_for_update().filter(order=order).first()
    if payment is None:
        return None
    if payment.status == PaymentStatus.PENDING:
        _move(payment, PaymentStatus.VOIDED, reason)
        return PaymentStatus.VOIDED
    if payment.status != PaymentStatus.CHARGED:
        return None
    wallet = Wallet.objects.select_for_update().get(customer_id=order.customer_id)
    _post(wallet, LedgerEntry.Kind.REFUND, payment.amount, reason, order=order)
    _move(payment, PaymentStatus.REFUNDED, reason)
    envelope = publisher.publish(
        events.PaymentRefunded(amount=payment.amount, reason=reason[:200]), order_id=order.id,
        correlation_id=order.correlation_id,
    )
    _announced(order, OrderStatusChange.Kind.PAYMENT_REFUNDED, envelope, reason)
    log.info("order %s: refunded %s %s (%s)", order.id, payment.amount, payment.currency, reason)
    return PaymentStatus.REFUNDED


def payment_cash_collected(
    *, order_id: uuid.UUID, correlation_id: str, amount: Decimal, courier: str, event_id: uuid.UUID,
    occurred_at: datetime, source: str,
) -> bool:
    """The courier collected cash for a delivered order: the payment becomes ``COLLECTED``, once.

    Runs in the consumer's transaction. Returns whether it changed anything (a redelivered event,
    or an order paid otherwise, changes nothing). Every cash order passes here, so the move is ONE
    statement (:func:`_collect`); only an event that changes nothing reads the order back, to tell
    an order that is not ours (:class:`InvalidEvent`) from one paid already.
    """
    reason = _collect(order_id=order_id, correlation_id=correlation_id, amount=amount, courier=courier,
                      event_id=event_id, occurred_at=occurred_at, source=source)
    if reason is None:
        _, payment = _locked(order_id, correlation_id)
        log.info("order %s: cash collected but payment is %s; ignored", order_id, payment and payment.status)
        return False
    log.info("order %s: %s", order_id, reason)
    return True


def _collect(
    *, order_id: uuid.UUID, correlation_id: str, amount: Decimal, courier: str, event_id: uuid.UUID,
    occurred_at: datetime, source: str,
) -> str | None:
    """Lock the order, move its payment from ``DUE_ON_DELIVERY`` to ``COLLECTED`` and add the history
    entry, in one round trip; return the payment's new reason, or None when nothing moved.

    A data-modifying CTE, like the status move (:func:`client_app.orders.services.tracking._move_and_record`):
    the order's row is locked before the payment's (the lock order of this module), and the history
    entry takes its row from the UPDATE's RETURNING, so it exists exactly when the payment moved.
    """
    orders, payments, history = Order._meta.db_table, Payment._meta.db_table, OrderStatusChange._meta.db_table
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH ordered AS MATERIALIZED (
                SELECT id, status, status_sequence FROM {orders}
                WHERE id = %(order_id)s AND correlation_id = %(correlation_id)s FOR UPDATE
            ), paid AS (
                UPDATE {payments} AS p SET status = %(collected)s, updated_at = %(now)s, reason = left(
                    %(amount_text)s || ' ' || p.currency || ' collected by ' || %(courier)s
                    || CASE WHEN p.amount <> %(amount)s THEN ' (due: ' || p.amount::text || ')' ELSE '' END, 300)
                FROM ordered WHERE p.order_id = ordered.id AND p.status = %(due)s
                RETURNING p.order_id, p.reason
            ), entry AS (
                INSERT INTO {history}
                    (order_id, kind, status, sequence, occurred_at, recorded_at, source, event_id, reason, courier)
                SELECT ordered.id, %(kind)s, ordered.status, ordered.status_sequence, %(occurred_at)s, %(now)s,
                       %(source)s, %(event_id)s, paid.reason, ''
                FROM ordered JOIN paid ON paid.order_id = ordered.id
            )
            SELECT reason FROM paid
            """,
            {
                "order_id": order_id, "correlation_id": correlation_id, "collected": str(PaymentStatus.COLLECTED),
                "due": str(PaymentStatus.DUE_ON_DELIVERY), "now": now, "amount": amount, "amount_text": str(amount),
                "courier": courier, "kind": str(OrderStatusChange.Kind.CASH_COLLECTED), "occurred_at": occurred_at,
                "source": source, "event_id": event_id,
            },
        )
        row = cursor.fetchone()
    return None if row is None else row[0]


@transaction.atomic
def wallet_top_up(*, customer: AbstractBaseUser, amount: Decimal, reason: str, by: str) -> LedgerEntry:
    """Add ``amount`` to the customer's card (issuing one if they have none), as a ledger
    ``TOP_UP`` made by staff member ``by``. Raises :class:`PaymentInvalid` for a non-positive
    amount, more than two decimals, more than :data:`MAX_TOP_UP` or a blank reason."""
    if amount <= 0 or amount > MAX_TOP_UP or amount != amount.quantize(CENT):
        raise PaymentInvalid(f"a top-up is 0.01 to {MAX_TOP_UP} with at most two decimals", field="amount")
    if not reason.strip():
        raise PaymentInvalid("say why (gift card, goodwill, ...)", field="reason")
    wallet = wallet_open(customer=customer)
    wallet = Wallet.objects.select_for_update().get(id=wallet.id)
    entry = _post(wallet, LedgerEntry.Kind.TOP_UP, amount, reason, by=by)
    log.info("wallet of %s topped up by %s %s by %s (%s)", customer, amount, wallet.currency, by, reason)
    return entry


def wallet_open(*, customer: AbstractBaseUser) -> Wallet:
    """The customer's wallet, issued empty if they have none."""
    wallet, _ = Wallet.objects.get_or_create(
        customer=customer, defaults={"currency": settings.PALMETTO_CONFIG.currency}
    )
    return wallet


def _post(wallet: Wallet, kind: str, amount: Decimal, reason: str, *, order: Order | None = None,
          by: str = "") -> LedgerEntry:
    """Move ``amount`` (signed) on a wallet the caller has locked: the entry and the balance together."""
    wallet.balance += amount
    wallet.updated_at = timezone.now()
    wallet.save(update_fields=["balance", "updated_at"])
    return LedgerEntry.objects.create(
        wallet=wallet, kind=kind, amount=amount, reason=reason[:200], order=order, created_by=by
    )

"""Payments in the Client App: the ledger, charging and declining, refunds exactly once, cash,
the database's own guarantees, concurrent orders of one customer, the wallet API and the staff
top-up in the admin."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.db import IntegrityError, connection, transaction
from django.db.models import Sum
from django.test import Client

from client_app.orders.models import MenuItem, Order, OrderStatusChange, OutboxMessage
from client_app.orders.services.placing import PaymentRequest, order_place
from client_app.orders.services.pricing import LineRequest
from client_app.payments.models import LedgerEntry, Payment, Wallet
from client_app.payments.services import (
    NoCard,
    PaymentInvalid,
    payment_cash_collected,
    payment_charge,
    payment_settle_failed_order,
    wallet_top_up,
)
from common import events
from common.errors import InvalidEvent
from common.lifecycle import PaymentMethod, PaymentStatus, Status
from tests.support.api import client_for, order_body, place
from tests.support.factories import apply_status

pytestmark = pytest.mark.django_db

DUE = Decimal("12.00")  # one margherita-30 (8.50) plus the 3.50 delivery fee


def customer(balance: Decimal | None = None) -> User:
    user = User.objects.create_user(f"customer-{uuid.uuid4().hex[:8]}")
    if balance is not None:
        wallet_top_up(customer=user, amount=balance, reason="gift card", by="oscar")
    return user


def card_order(user: User, method: PaymentMethod = PaymentMethod.CARD) -> Order:
    return order_place(
        customer_account=user, correlation_id=str(uuid.uuid4()),
        customer=events.Customer("Ada", "+1 555 0100"),
        address=events.DeliveryAddress("12 Harbour Road", "Charleston", "29401"),
        lines=[LineRequest("margherita-30", 1)], payment=PaymentRequest(method=method),
    ).order


def charge(order: Order) -> PaymentStatus | None:
    with transaction.atomic():
        return payment_charge(order_id=order.id, correlation_id=order.correlation_id)


def outbox_types(order: Order) -> list[str]:
    return list(OutboxMessage.objects.filter(order_id=order.id).order_by("id").values_list("event_type", flat=True))


def balance_matches_ledger(user: User) -> bool:
    wallet = Wallet.objects.get(customer=user)
    return wallet.balance == (wallet.entries.aggregate(s=Sum("amount"))["s"] or 0)


# --------------------------------------------------------------------------- services


def test_a_card_order_is_charged_once_as_a_ledger_entry_with_its_event_and_history():
    user = customer(Decimal("20.00"))
    order = card_order(user)
    assert order.payment.status == PaymentStatus.PENDING and order.payment.amount == DUE
    assert charge(order) == PaymentStatus.CHARGED
    assert charge(order) is None  # redelivered or replayed: nothing twice
    assert Wallet.objects.get(customer=user).balance == Decimal("8.00")
    [entry] = LedgerEntry.objects.filter(order=order)
    assert (entry.kind, entry.amount) == (LedgerEntry.Kind.CHARGE, -DUE)
    assert outbox_types(order) == ["OrderPlaced", "PaymentCharged"]
    assert order.history.filter(kind=OrderStatusChange.Kind.PAYMENT_CHARGED).count() == 1
    assert balance_matches_ledger(user)


def test_insufficient_balance_declines_with_a_reason_and_charges_nothing():
    user = customer(Decimal("5.00"))
    order = card_order(user)
    assert charge(order) == PaymentStatus.DECLINED
    payment = Payment.objects.get(order=order)
    assert "insufficient balance" in payment.reason
    assert Wallet.objects.get(customer=user).balance == Decimal("5.00")
    assert not LedgerEntry.objects.filter(order=order).exists()
    assert outbox_types(order) == ["OrderPlaced", "PaymentDeclined"]


@pytest.mark.parametrize("ending", [Status.CANCELLED, Status.REJECTED])
def test_a_charged_order_that_fails_is_refunded_exactly_once(ending):
    user = customer(Decimal("20.00"))
    order = card_order(user)
    charge(order)
    assert apply_status(order.id, order.correlation_id, ending, 1)
    assert Payment.objects.get(order=order).status == PaymentStatus.REFUNDED
    assert Wallet.objects.get(customer=user).balance == Decimal("20.00")
    # The same ending again (redelivered under another event id), and the compensation called again.
    assert not apply_status(order.id, order.correlation_id, ending, 1)
    with transaction.atomic():
        assert payment_settle_failed_order(order=Order.objects.get(id=order.id), reason="again") is None
    assert LedgerEntry.objects.filter(order=order, kind=LedgerEntry.Kind.REFUND).count() == 1
    assert outbox_types(order) == ["OrderPlaced", "PaymentCharged", "PaymentRefunded"]
    assert balance_matches_ledger(user)


def test_an_order_that_ended_before_its_charge_is_never_charged():
    user = customer(Decimal("20.00"))
    order = card_order(user)
    apply_status(order.id, order.correlation_id, Status.REJECTED, 1)
    assert Payment.objects.get(order=order).status == PaymentStatus.VOIDED
    assert charge(order) is None
    assert Wallet.objects.get(customer=user).balance == Decimal("20.00")
    assert outbox_types(order) == ["OrderPlaced"]


def test_delivered_order_keeps_its_charge():
    user = customer(Decimal("20.00"))
    order = card_order(user)
    charge(order)
    for sequence, status in enumerate([Status.ACCEPTED, Status.PREPARING, Status.READY_FOR_DELIVERY], start=1):
        apply_status(order.id, order.correlation_id, status, sequence)
    apply_status(order.id, order.correlation_id, Status.OUT_FOR_DELIVERY, 4, source="courier")
    apply_status(order.id, order.correlation_id, Status.DELIVERED, 5, source="courier")
    assert Payment.objects.get(order=order).status == PaymentStatus.CHARGED
    assert Wallet.objects.get(customer=user).balance == Decimal("8.00")


def test_cash_is_due_on_delivery_and_collected_once():
    order = card_order(customer(), method=PaymentMethod.CASH)
    assert order.payment.status == PaymentStatus.DUE_ON_DELIVERY
    event_id = uuid.uuid4()

    def collected() -> bool:
        with transaction.atomic():
            return payment_cash_collected(
                order_id=order.id, correlation_id=order.correlation_id, amount=DUE, courier="Rosa",
                event_id=event_id, occurred_at=datetime.now(UTC), source="courier",
            )

    assert collected()
    assert not collected()
    payment = Payment.objects.get(order=order)
    assert (payment.status, payment.reason) == (PaymentStatus.COLLECTED, "12.00 EUR collected by Rosa")
    (entry,) = order.history.filter(kind=OrderStatusChange.Kind.CASH_COLLECTED)
    assert (entry.event_id, entry.reason, entry.status, entry.sequence) == (event_id, payment.reason, "PLACED", 0)


def test_cash_collected_records_a_different_amount_and_refuses_an_order_that_is_not_ours():
    order = card_order(customer(), method=PaymentMethod.CASH)

    def collected(amount: Decimal, correlation_id: str) -> bool:
        with transaction.atomic():
            return payment_cash_collected(
                order_id=order.id, correlation_id=correlation_id, amount=amount, courier="Rosa",
                event_id=uuid.uuid4(), occurred_at=datetime.now(UTC), source="courier",
            )

    with pytest.raises(InvalidEvent):
        collected(DUE, "not-this-order")
    assert Payment.objects.get(order=order).status == PaymentStatus.DUE_ON_DELIVERY
    assert collected(Decimal("10.00"), order.correlation_id)
    assert Payment.objects.get(order=order).reason == "10.00 EUR collected by Rosa (due: 12.00)"
    assert order.history.filter(kind=OrderStatusChange.Kind.CASH_COLLECTED).count() == 1


def test_a_card_order_without_a_card_is_refused_and_nothing_is_written():
    user = customer()
    with pytest.raises(NoCard):
        card_order(user)
    assert not Order.objects.filter(customer=user).exists()
    assert not OutboxMessage.objects.exists()


@pytest.mark.parametrize("amount", [Decimal(0), Decimal("-1"), Decimal("0.001"), Decimal("10000.01")])
def test_top_ups_are_positive_cents_within_a_limit(amount):
    with pytest.raises(PaymentInvalid):
        wallet_top_up(customer=customer(), amount=amount, reason="x", by="oscar")


def test_the_database_refuses_a_second_charge_or_refund_and_a_negative_balance():
    user = customer(Decimal("20.00"))
    order = card_order(user)
    charge(order)
    wallet = Wallet.objects.get(customer=user)
    with pytest.raises(IntegrityError), transaction.atomic():
        LedgerEntry.objects.create(wallet=wallet, kind=LedgerEntry.Kind.CHARGE, amount=-DUE, reason="x", order=order)
    with pytest.raises(IntegrityError), transaction.atomic():
        LedgerEntry.objects.create(wallet=wallet, kind=LedgerEntry.Kind.CHARGE, amount=DUE, reason="wrong sign")
    with pytest.raises(IntegrityError), transaction.atomic():
        Wallet.objects.filter(id=wallet.id).update(balance=Decimal("-0.01"))
    LedgerEntry.objects.create(wallet=wallet, kind=LedgerEntry.Kind.REFUND, amount=DUE, reason="x", order=order)
    with pytest.raises(IntegrityError), transaction.atomic():
        LedgerEntry.objects.create(wallet=wallet, kind=LedgerEntry.Kind.REFUND, amount=DUE, reason="x", order=order)


@pytest.mark.django_db(transaction=True)
def test_concurrent_card_orders_of_one_customer_never_overdraw():
    """Eight orders of 12.00 against 30.00, charged at once on eight connections: two are charged."""
    # Transactional tests start from whatever the last one left: it may have emptied the seeded menu.
    MenuItem.objects.get_or_create(
        item_id="margherita-30", defaults={"name": "Margherita", "category": "pizza", "price": Decimal("8.50")}
    )
    user = customer(Decimal("30.00"))
    orders = [card_order(user) for _ in range(8)]
    start = threading.Barrier(len(orders))
    outcomes: list[PaymentStatus | None] = []
    errors: list[BaseException] = []

    def run(order: Order) -> None:
        try:
            start.wait()
            outcomes.append(charge(order))
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(order,)) for order in orders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert sorted(outcomes) == sorted([PaymentStatus.CHARGED] * 2 + [PaymentStatus.DECLINED] * 6)
    assert Wallet.objects.get(customer=user).balance == Decimal("6.00")
    assert balance_matches_ledger(user)


# --------------------------------------------------------------------------- API


@pytest.fixture
def carol(db):
    user = User.objects.create_user("carol", password="carol-password-1")
    wallet_top_up(customer=user, amount=Decimal("50.00"), reason="gift card", by="oscar")
    return client_for(user)


def test_a_card_order_shows_its_payment(carol):
    response = place(carol, order_body(payment={"method": "card", "amount": "25.50"}))
    assert response.status_code == 201, response.content
    assert response.json()["payment"] == {
        "method": "card", "status": "PENDING", "amount": "25.50", "currency": "EUR", "reason": "",
    }


def test_without_payment_the_order_is_cash_on_delivery(alice):
    response = place(alice, order_body())
    assert response.status_code == 201
    assert response.json()["payment"]["method"] == "cash"
    assert response.json()["payment"]["status"] == "DUE_ON_DELIVERY"


@pytest.mark.parametrize(
    ("payment", "field"),
    [
        ({"method": "bitcoin"}, "payment.method"),
        ({}, "payment.method"),
        ({"method": "cash", "amount": 25.49}, "payment.amount"),  # amounts are decimal strings
    ],
)
def test_bad_payment_input_is_a_400_naming_the_field_and_writes_nothing(carol, payment, field):
    response = place(carol, order_body(payment=payment))
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"]
    assert not Order.objects.exists() and not OutboxMessage.objects.exists()


@pytest.mark.parametrize("payment", [{"method": "card", "amount": "1.00"}, {"method": "cash", "amount": "25.49"}])
def test_an_amount_that_is_not_the_grand_total_is_a_409_naming_it_and_writes_nothing(carol, payment):
    response = place(carol, order_body(payment=payment))
    assert response.status_code == 409, response.content
    assert response.json()["code"] == "conflicts_with_order" and "payment.amount" in response.json()["errors"]
    assert not Order.objects.exists() and not OutboxMessage.objects.exists()


def test_a_card_order_without_a_card_is_402(alice):
    response = place(alice, order_body(payment={"method": "card"}))
    assert response.status_code == 402
    assert response.json()["code"] == "no_card"
    assert not Order.objects.exists()


def test_the_customer_sees_their_balance_and_transactions(carol, alice):
    assert carol.get("/api/wallet/").json() == {"balance": "50.00", "currency": "EUR"}
    entries = carol.get("/api/wallet/entries/").json()
    assert entries["count"] == 1
    assert entries["results"][0]["kind"] == "TOP_UP" and entries["results"][0]["amount"] == "50.00"
    assert alice.get("/api/wallet/").status_code == 404
    assert alice.get("/api/wallet/entries/").json()["count"] == 0
    assert client_for(None).get("/api/wallet/").status_code == 401


def test_staff_top_up_in_the_admin_is_a_ledger_entry(db):
    User.objects.create_user("dora")
    User.objects.create_superuser("boss", password="boss-password-1")
    web = Client()
    web.login(username="boss", password="boss-password-1")
    assert web.get("/admin/payments/wallet/top-up/").status_code == 200
    response = web.post("/admin/payments/wallet/top-up/", {"customer": "dora", "amount": "15.00", "reason": "goodwill"})
    assert response.status_code == 302
    [entry] = LedgerEntry.objects.filter(wallet__customer__username="dora")
    assert (entry.kind, entry.amount, entry.created_by) == (LedgerEntry.Kind.TOP_UP, Decimal("15.00"), "boss")
    assert web.get("/admin/payments/wallet/").status_code == 200
    assert web.get(f"/admin/payments/wallet/{entry.wallet_id}/change/").status_code == 200
    assert web.get("/admin/payments/ledgerentry/").status_code == 200
    # Read-only: no add, change or delete of wallets and entries.
    assert web.get("/admin/payments/ledgerentry/add/").status_code == 403
    assert web.post(f"/admin/payments/wallet/{entry.wallet_id}/delete/", {"post": "yes"}).status_code == 403

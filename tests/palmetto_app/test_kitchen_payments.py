"""The kitchen never starts a card order before it is paid; a declined one ends REJECTED saying so;
a cash order's READY_FOR_DELIVERY tells the courier what to collect; old OrderPlaced v1 still works."""

from __future__ import annotations

import dataclasses
import uuid
from decimal import Decimal

import pytest

from common import events
from common.events import decode, encode
from common.lifecycle import Status
from palmetto_app.kitchen import services
from palmetto_app.kitchen.declaration import SERVICE
from palmetto_app.kitchen.models import OutboxMessage, Ticket
from tests.support.factories import open_ticket, order_placed

pytestmark = pytest.mark.django_db


def published(order_id) -> list[tuple[str, str | None, Decimal | None]]:
    rows = OutboxMessage.objects.filter(order_id=order_id).order_by("id")
    return [(p.status.value, p.reason, p.cash_due) for p in (decode(r.value.encode()).payload for r in rows)]


def test_a_card_order_waits_for_its_payment_then_starts():
    envelope = order_placed(method=events.CARD)
    ticket = open_ticket(envelope)
    assert ticket.stage == Status.PLACED and ticket.next_stage_at is None
    assert published(envelope.order_id) == []
    assert services.tickets_advance_due() == 0
    assert services.ticket_payment_decided(order_id=envelope.order_id, charged=True)
    assert not services.ticket_payment_decided(order_id=envelope.order_id, charged=True)  # redelivered
    services.tickets_advance_due()
    services.tickets_advance_due()
    assert [s for s, _, _ in published(envelope.order_id)] == ["ACCEPTED", "PREPARING", "READY_FOR_DELIVERY"]
    # Paid already: the courier collects nothing.
    assert published(envelope.order_id)[-1][2] is None


def test_a_declined_card_order_is_rejected_with_a_payment_reason():
    envelope = order_placed(method=events.CARD)
    open_ticket(envelope)
    services.ticket_payment_decided(order_id=envelope.order_id, charged=False, reason="insufficient balance")
    [(status, reason, _)] = published(envelope.order_id)
    assert status == "REJECTED" and reason == "payment declined: insufficient balance"


def test_a_card_order_cancelled_while_waiting_is_not_started_by_a_late_charge():
    envelope = order_placed(method=events.CARD)
    open_ticket(envelope)
    services.ticket_cancel(order_id=envelope.order_id, correlation_id=envelope.correlation_id, reason=None)
    assert not services.ticket_payment_decided(order_id=envelope.order_id, charged=True)
    assert [s for s, _, _ in published(envelope.order_id)] == ["CANCELLED"]


def test_a_cash_order_starts_at_once_and_ready_carries_the_cash_due():
    envelope = order_placed(("margherita-30", 2))
    assert open_ticket(envelope).stage == Status.ACCEPTED
    services.tickets_advance_due()
    services.tickets_advance_due()
    assert published(envelope.order_id)[-1] == ("READY_FOR_DELIVERY", None, Decimal("20.50"))


def test_a_payment_decision_without_a_ticket_changes_nothing():
    assert not services.ticket_payment_decided(order_id=uuid.uuid4(), charged=True)
    assert not Ticket.objects.exists()


def test_an_order_placed_v1_is_read_as_cash_on_delivery():
    v2 = order_placed()
    v1_payload = events.OrderPlacedV1(
        **{f.name: getattr(v2.payload, f.name) for f in dataclasses.fields(events.OrderPlacedV1)}
    )
    _, value, headers = encode(dataclasses.replace(v2, payload=v1_payload))
    old = decode(value, headers)
    assert old.version == 1
    [subscription] = SERVICE.subscriptions
    subscription.handler_for(old)(old)
    ticket = Ticket.objects.get(order_id=v2.order_id)
    assert ticket.stage == Status.ACCEPTED and ticket.payment_method == "CASH" and ticket.amount == Decimal("20.50")

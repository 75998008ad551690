"""The kitchen accepts or rejects new orders and moves tickets along durable timers."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from common.events import decode
from palmetto_app.kitchen import services
from palmetto_app.kitchen.models import OutboxMessage, Ticket, UnavailableItem
from tests.factories import order_placed

pytestmark = pytest.mark.django_db


def published(order_id) -> list[tuple[str, int]]:
    rows = OutboxMessage.objects.filter(order_id=order_id).order_by("id")
    return [(p.status.value, p.sequence) for p in (decode(r.value.encode()).payload for r in rows)]


def test_accepted_order_moves_through_the_kitchen_when_timers_are_due():
    envelope = order_placed(("margherita-30", 2))
    ticket = services.ticket_open(envelope)
    assert ticket.stage == Ticket.Stage.ACCEPTED
    # Timings are zero in tests: each stage is due at once.
    assert services.tickets_advance_due() == 1
    assert services.tickets_advance_due() == 1
    assert services.tickets_advance_due() == 0
    ticket.refresh_from_db()
    assert ticket.stage == Ticket.Stage.READY_FOR_DELIVERY and ticket.next_stage_at is None
    assert published(envelope.order_id) == [("ACCEPTED", 1), ("PREPARING", 2), ("READY_FOR_DELIVERY", 3)]
    assert all(r.key == envelope.correlation_id for r in OutboxMessage.objects.all())


def test_timers_not_yet_due_wait():
    ticket = services.ticket_open(order_placed())
    Ticket.objects.filter(pk=ticket.pk).update(next_stage_at=timezone.now() + timedelta(minutes=5))
    assert services.tickets_advance_due() == 0


def test_unavailable_item_is_rejected_with_a_reason():
    UnavailableItem.objects.create(item_id="diavola-40", reason="out of salami")
    envelope = order_placed(("margherita-30", 1), ("diavola-40", 1))
    ticket = services.ticket_open(envelope)
    assert ticket.stage == Ticket.Stage.REJECTED
    assert "diavola-40" in ticket.reason and "salami" in ticket.reason
    assert published(envelope.order_id) == [("REJECTED", 1)]
    assert services.tickets_advance_due() == 0


def test_too_large_an_order_is_rejected():
    ticket = services.ticket_open(order_placed(("margherita-30", 41)))
    assert ticket.stage == Ticket.Stage.REJECTED and "catering" in ticket.reason


def test_the_same_order_twice_opens_one_ticket():
    first = order_placed()
    again = order_placed(order_id=first.order_id, correlation_id=first.correlation_id)
    assert services.ticket_open(first) is not None
    assert services.ticket_open(again) is None
    assert Ticket.objects.count() == 1 and OutboxMessage.objects.count() == 1

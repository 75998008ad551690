"""The kitchen accepts or rejects new orders and moves tickets along durable timers."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from django.utils import timezone

from common.config import Timings
from common.events import decode
from common.lifecycle import Status
from palmetto_app.kitchen import services
from palmetto_app.kitchen.models import OutboxMessage, Ticket, UnavailableItem
from palmetto_app.kitchen.selectors import tickets_next_due
from tests.support.factories import open_ticket, order_placed

pytestmark = pytest.mark.django_db


def published(order_id) -> list[tuple[str, int]]:
    rows = OutboxMessage.objects.filter(order_id=order_id).order_by("id")
    return [(p.status.value, p.sequence) for p in (decode(r.value.encode()).payload for r in rows)]


def test_accepted_order_moves_through_the_kitchen_when_timers_are_due():
    envelope = order_placed(("margherita-30", 2))
    ticket = open_ticket(envelope)
    assert ticket.stage == Status.ACCEPTED
    # Timings are zero in tests: each stage is due at once, so one tick takes the ticket through both
    # steps, each announced.
    assert services.tickets_advance_due() == 1
    assert services.tickets_advance_due() == 0
    ticket.refresh_from_db()
    assert ticket.stage == Status.READY_FOR_DELIVERY and ticket.next_stage_at is None
    assert published(envelope.order_id) == [("ACCEPTED", 1), ("PREPARING", 2), ("READY_FOR_DELIVERY", 3)]
    assert all(r.key == envelope.correlation_id for r in OutboxMessage.objects.all())


def test_a_tick_stops_at_a_stage_that_takes_time(settings):
    settings.PALMETTO_CONFIG = dataclasses.replace(settings.PALMETTO_CONFIG, timings=Timings(0, 300, 0))
    envelope = order_placed()
    ticket = open_ticket(envelope)
    before = timezone.now()
    assert services.tickets_advance_due() == 1
    ticket.refresh_from_db()
    assert ticket.stage == Status.PREPARING
    assert ticket.next_stage_at >= before + timedelta(seconds=300)
    assert 290 < tickets_next_due() <= 300  # the timer loop sleeps this long
    assert services.tickets_advance_due() == 0
    assert published(envelope.order_id) == [("ACCEPTED", 1), ("PREPARING", 2)]


def test_a_tick_announces_many_tickets_in_a_few_round_trips(django_assert_num_queries):
    envelopes = [order_placed() for _ in range(5)]
    for envelope in envelopes:
        open_ticket(envelope)
    # The due tickets, then the events in one INSERT and the tickets in one UPDATE (inside its savepoint).
    with django_assert_num_queries(5):
        assert services.tickets_advance_due() == 5
    for envelope in envelopes:
        assert published(envelope.order_id) == [("ACCEPTED", 1), ("PREPARING", 2), ("READY_FOR_DELIVERY", 3)]


def test_timers_not_yet_due_wait():
    assert tickets_next_due() is None
    ticket = open_ticket(order_placed())
    Ticket.objects.filter(pk=ticket.pk).update(next_stage_at=timezone.now() + timedelta(minutes=5))
    assert services.tickets_advance_due() == 0
    assert 290 < tickets_next_due() <= 300


def test_unavailable_item_is_rejected_with_a_reason():
    UnavailableItem.objects.create(item_id="diavola-40", reason="out of salami")
    envelope = order_placed(("margherita-30", 1), ("diavola-40", 1))
    ticket = open_ticket(envelope)
    assert ticket.stage == Status.REJECTED
    assert "diavola-40" in ticket.reason and "salami" in ticket.reason
    assert published(envelope.order_id) == [("REJECTED", 1)]
    assert services.tickets_advance_due() == 0


def test_too_large_an_order_is_rejected():
    ticket = open_ticket(order_placed(("margherita-30", 41)))
    assert ticket.stage == Status.REJECTED and "catering" in ticket.reason


def test_the_same_order_twice_opens_one_ticket():
    first = order_placed()
    again = order_placed(order_id=first.order_id, correlation_id=first.correlation_id)
    assert open_ticket(first) is not None
    assert open_ticket(again) is None
    assert Ticket.objects.count() == 1 and OutboxMessage.objects.count() == 1


def cancel(envelope) -> None:
    """The customer of ``envelope``'s order asks to cancel, as the kitchen's declaration hands it on."""
    services.ticket_cancel(order_id=envelope.order_id, correlation_id=envelope.correlation_id, reason="changed my mind")


def test_cancellation_before_the_food_is_ready_cancels_the_ticket(settings):
    settings.PALMETTO_CONFIG = dataclasses.replace(settings.PALMETTO_CONFIG, timings=Timings(0, 300, 0))
    envelope = order_placed()
    open_ticket(envelope)
    services.tickets_advance_due()  # PREPARING, for 300 s
    cancel(envelope)
    ticket = Ticket.objects.get(order_id=envelope.order_id)
    assert ticket.stage == Status.CANCELLED and ticket.next_stage_at is None
    assert services.tickets_advance_due() == 0  # never reaches READY_FOR_DELIVERY, so never the courier
    assert published(envelope.order_id) == [("ACCEPTED", 1), ("PREPARING", 2), ("CANCELLED", 3)]
    cancel(envelope)  # asked again: nothing new
    assert OutboxMessage.objects.filter(order_id=envelope.order_id).count() == 3


def test_cancellation_once_ready_is_declined():
    envelope = order_placed()
    open_ticket(envelope)
    services.tickets_advance_due()
    services.tickets_advance_due()
    cancel(envelope)
    assert Ticket.objects.get(order_id=envelope.order_id).stage == Status.READY_FOR_DELIVERY
    last = OutboxMessage.objects.filter(order_id=envelope.order_id).order_by("id").last()
    assert last.event_type == "CancellationDeclined"
    assert "READY_FOR_DELIVERY" in decode(last.value.encode()).payload.reason


def test_a_cancellation_that_overtook_its_order_wins():
    envelope = order_placed()
    cancel(envelope)
    assert open_ticket(envelope) is None
    assert Ticket.objects.get(order_id=envelope.order_id).stage == Status.CANCELLED
    assert published(envelope.order_id) == [("CANCELLED", 1)]

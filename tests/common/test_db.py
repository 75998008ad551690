"""Database helpers of the workers: set-based updates."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from common import db
from common.lifecycle import Status
from courier_app.delivery.models import Courier, Delivery
from palmetto_app.kitchen.models import Ticket
from tests.support.factories import open_ticket, order_placed

pytestmark = pytest.mark.django_db


def test_update_each_saves_each_objects_own_values_in_one_statement(django_assert_num_queries):
    tickets = [open_ticket(order_placed()) for _ in range(3)]
    untouched = open_ticket(order_placed())
    later = timezone.now() + timedelta(minutes=5)
    tickets[0].stage, tickets[0].sequence, tickets[0].next_stage_at = Status.PREPARING, 2, later
    tickets[1].stage, tickets[1].sequence, tickets[1].next_stage_at = Status.READY_FOR_DELIVERY, 3, None
    tickets[2].stage, tickets[2].sequence = Status.CANCELLED, 7
    tickets[2].reason = "not saved: not a listed field"
    with django_assert_num_queries(1):
        db.update_each(Ticket, tickets, ["stage", "sequence", "next_stage_at"])
    saved = {t.pk: t for t in Ticket.objects.all()}
    assert (saved[tickets[0].pk].stage, saved[tickets[0].pk].sequence) == (Status.PREPARING, 2)
    assert saved[tickets[0].pk].next_stage_at == later
    assert (saved[tickets[1].pk].stage, saved[tickets[1].pk].next_stage_at) == (Status.READY_FOR_DELIVERY, None)
    assert (saved[tickets[2].pk].stage, saved[tickets[2].pk].sequence) == (Status.CANCELLED, 7)
    assert saved[tickets[2].pk].reason == ""
    assert (saved[untouched.pk].stage, saved[untouched.pk].sequence) == (Status.ACCEPTED, 1)


def test_update_each_saves_a_foreign_key_and_does_nothing_for_no_objects(django_assert_num_queries):
    courier = Courier.objects.create(name="Test courier")
    delivery = Delivery.objects.create(order_id=order_placed().order_id, correlation_id="c", sequence=3,
                                       ready_at=timezone.now())
    delivery.courier = courier
    db.update_each(Delivery, [delivery], ["courier"])
    assert Delivery.objects.get().courier_id == courier.id
    with django_assert_num_queries(0):
        db.update_each(Delivery, [], ["courier"])


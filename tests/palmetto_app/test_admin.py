"""The kitchen's admin: tickets found by order id and correlation ID and never editable; availability is."""

from __future__ import annotations

import pytest

from common.lifecycle import Status
from palmetto_app.kitchen.models import Ticket, UnavailableItem
from tests.support.factories import open_ticket, order_placed

pytestmark = pytest.mark.django_db

TICKETS = "/admin/kitchen/ticket/"


def listed(response) -> set[str]:
    assert response.status_code == 200
    return {str(t.order_id) for t in response.context["cl"].result_list}


def test_tickets_are_found_by_order_id_and_correlation_id_and_filtered_by_stage(admin_client):
    mine = open_ticket(order_placed())
    other = open_ticket(order_placed(("margherita-30", 41)))  # rejected: too many items
    assert listed(admin_client.get(TICKETS, {"q": mine.correlation_id})) == {str(mine.order_id)}
    assert listed(admin_client.get(TICKETS, {"q": str(mine.order_id)})) == {str(mine.order_id)}
    assert listed(admin_client.get(TICKETS, {"stage__exact": "REJECTED"})) == {str(other.order_id)}


def test_tickets_cannot_be_changed_in_the_admin(admin_client):
    ticket = open_ticket(order_placed())
    assert admin_client.get(f"{TICKETS}{ticket.id}/change/").status_code == 200
    assert admin_client.post(f"{TICKETS}{ticket.id}/change/", {"stage": "READY_FOR_DELIVERY"}).status_code == 403
    assert admin_client.post(f"{TICKETS}{ticket.id}/delete/", {"post": "yes"}).status_code == 403
    assert Ticket.objects.get(id=ticket.id).stage == Status.ACCEPTED


def test_the_kitchen_marks_an_item_unavailable_and_new_orders_with_it_are_rejected(admin_client):
    response = admin_client.post(
        "/admin/kitchen/unavailableitem/add/", {"item_id": "tiramisu", "reason": "no mascarpone"}
    )
    assert response.status_code == 302
    assert UnavailableItem.objects.filter(item_id="tiramisu").exists()
    ticket = open_ticket(order_placed(("tiramisu", 1)))
    assert ticket.stage == Status.REJECTED and "no mascarpone" in ticket.reason

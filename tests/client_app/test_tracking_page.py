"""The tracking page and its JSON state: owner only (404 for anyone else), login by session, cancel button."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from client_app.orders.models import Order
from common.lifecycle import Status
from tests.support.factories import apply_status, place_order

pytestmark = pytest.mark.django_db


@pytest.fixture
def order() -> Order:
    order = place_order(("margherita-30", 2), ("tiramisu", 1))
    order.customer.set_password("owner-password-1")
    order.customer.save()
    return order


def browser_for(user: User) -> Client:
    browser = Client()
    browser.force_login(user)
    return browser


def test_anonymous_visitors_are_sent_to_the_login_page_and_come_back_after_it(order):
    browser = Client()
    page = browser.get(f"/track/{order.id}/")
    assert page.status_code == 302 and page["Location"] == f"/accounts/login/?next=/track/{order.id}/"
    assert browser.get(page["Location"]).status_code == 200
    login = browser.post("/accounts/login/", {"username": order.customer.username, "password": "owner-password-1",
                                              "next": f"/track/{order.id}/"})
    assert login.status_code == 302 and login["Location"] == f"/track/{order.id}/"
    assert browser.get(f"/track/{order.id}/").status_code == 200


def test_the_owner_sees_the_order_its_items_totals_and_timeline(order):
    browser = browser_for(order.customer)
    apply_status(order.id, order.correlation_id, Status.ACCEPTED, 1)
    page = browser.get(f"/track/{order.id}/")
    html = page.content.decode()
    assert page.status_code == 200 and "width=device-width" in html
    assert "Margherita" in html and "Tiramisu" in html and str(order.grand_total) in html
    state = browser.get(f"/track/{order.id}/state/").json()
    assert state["status"] == "ACCEPTED" and state["cancellable"] and not state["finished"]
    assert [(s["status"], s["done"]) for s in state["steps"]] == [
        ("PLACED", True), ("ACCEPTED", True), ("PREPARING", False), ("READY_FOR_DELIVERY", False),
        ("OUT_FOR_DELIVERY", False), ("DELIVERED", False)]
    assert browser.get("/track/").content.decode().count(f"/track/{order.id}/") == 1


def test_a_rejected_order_ends_its_timeline_with_the_reason(order):
    apply_status(order.id, order.correlation_id, Status.REJECTED, 1, reason="out of dough")
    state = browser_for(order.customer).get(f"/track/{order.id}/state/").json()
    assert state["finished"] and not state["cancellable"]
    assert [s["status"] for s in state["steps"]] == ["PLACED", "REJECTED"]
    assert state["steps"][-1]["note"] == "out of dough"


def test_another_customer_gets_404_everywhere(order):
    mallory = browser_for(User.objects.create_user("mallory", password="mallory-password-1"))
    for response in (
        mallory.get(f"/track/{order.id}/"),
        mallory.get(f"/track/{order.id}/state/"),
        mallory.post(f"/track/{order.id}/cancel/"),
    ):
        assert response.status_code == 404 and response.json()["code"] == "not_found"
    order.refresh_from_db()
    assert order.cancellation == Order.Cancellation.NONE


def test_the_cancel_button_asks_the_kitchen_while_allowed_and_says_when_it_is_too_late(order):
    browser = browser_for(order.customer)
    answer = browser.post(f"/track/{order.id}/cancel/", follow=True)
    order.refresh_from_db()
    assert order.cancellation == Order.Cancellation.REQUESTED
    assert "Cancellation requested" in answer.content.decode()
    assert browser.get(f"/track/{order.id}/state/").json()["cancellable"] is False

    late = place_order()
    for sequence, status in enumerate([Status.ACCEPTED, Status.PREPARING, Status.READY_FOR_DELIVERY], 1):
        apply_status(late.id, late.correlation_id, status, sequence)
    answer = browser_for(late.customer).post(f"/track/{late.id}/cancel/", follow=True)
    assert "can no longer be cancelled" in answer.content.decode()
    late.refresh_from_db()
    assert late.cancellation == Order.Cancellation.NONE


def test_the_cancel_button_needs_the_csrf_token(order):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(order.customer)
    assert browser.post(f"/track/{order.id}/cancel/").status_code == 403

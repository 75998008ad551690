"""The Client App's admin: orders found by id and correlation ID, filtered by status, shown with items and
history, and never editable (status changes only through events); the menu is managed here."""

from __future__ import annotations

from decimal import Decimal

import pytest

from client_app.orders.models import MenuItem, Order
from common.lifecycle import Status
from tests.support.factories import apply_status, place_order

pytestmark = pytest.mark.django_db

ORDERS = "/admin/orders/order/"


def listed(response) -> set[str]:
    """Order ids on a change-list page."""
    assert response.status_code == 200
    return {str(o.id) for o in response.context["cl"].result_list}


def test_orders_are_found_by_order_id_and_by_correlation_id(admin_client):
    mine, other = place_order(), place_order()
    assert listed(admin_client.get(ORDERS, {"q": mine.correlation_id})) == {str(mine.id)}
    assert listed(admin_client.get(ORDERS, {"q": str(mine.id)})) == {str(mine.id)}
    assert listed(admin_client.get(ORDERS)) == {str(mine.id), str(other.id)}


def test_orders_are_filtered_by_status(admin_client):
    waiting, rejected = place_order(), place_order()
    apply_status(rejected.id, rejected.correlation_id, Status.REJECTED, 1)
    assert listed(admin_client.get(ORDERS, {"status__exact": "REJECTED"})) == {str(rejected.id)}
    assert listed(admin_client.get(ORDERS, {"status__exact": "PLACED"})) == {str(waiting.id)}


def test_an_order_page_shows_items_and_history_and_offers_no_edit(admin_client):
    order = place_order(("margherita-30", 2))
    apply_status(order.id, order.correlation_id, Status.ACCEPTED, 1)
    page = admin_client.get(f"{ORDERS}{order.id}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Margherita" in html and "PLACED" in html and "ACCEPTED" in html and order.correlation_id in html
    assert 'name="_save"' not in html  # view only


def test_orders_cannot_be_added_changed_or_deleted_in_the_admin(admin_client):
    order = place_order()
    assert admin_client.get(f"{ORDERS}add/").status_code == 403
    assert admin_client.post(f"{ORDERS}{order.id}/change/", {"status": "DELIVERED"}).status_code == 403
    assert admin_client.post(f"{ORDERS}{order.id}/delete/", {"post": "yes"}).status_code == 403
    assert Order.objects.get(id=order.id).status == Status.PLACED


def test_operators_manage_the_menu(admin_client):
    item = MenuItem.objects.get(item_id="tiramisu")
    form = {f: getattr(item, f) for f in ("item_id", "name", "category", "size", "description", "position")}
    response = admin_client.post(f"/admin/orders/menuitem/{item.id}/change/", form | {"price": "5.50", "available": ""})
    assert response.status_code == 302, response.content.decode()[:500]
    item.refresh_from_db()
    assert item.price == Decimal("5.50") and not item.available

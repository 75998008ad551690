"""The courier service's admin: deliveries found by order id and correlation ID and never editable;
couriers are managed here (taking one off shift keeps it from new deliveries)."""

from __future__ import annotations

import uuid

import pytest
from django.utils import timezone

from courier_app.delivery import services
from courier_app.delivery.models import Courier, Delivery

pytestmark = pytest.mark.django_db

DELIVERIES = "/admin/delivery/delivery/"


def open_delivery() -> Delivery:
    return services.delivery_open(
        order_id=uuid.uuid4(), correlation_id=str(uuid.uuid4()), ready_sequence=3, ready_at=timezone.now()
    )


def listed(response) -> set[str]:
    assert response.status_code == 200
    return {str(d.order_id) for d in response.context["cl"].result_list}


def test_deliveries_are_found_by_order_id_and_correlation_id(admin_client):
    mine, _other = open_delivery(), open_delivery()
    assert listed(admin_client.get(DELIVERIES, {"q": mine.correlation_id})) == {str(mine.order_id)}
    assert listed(admin_client.get(DELIVERIES, {"q": str(mine.order_id)})) == {str(mine.order_id)}


def test_deliveries_cannot_be_changed_in_the_admin(admin_client):
    delivery = open_delivery()
    assert admin_client.get(f"{DELIVERIES}{delivery.id}/change/").status_code == 200
    assert admin_client.post(f"{DELIVERIES}{delivery.id}/change/", {"stage": "DELIVERED"}).status_code == 403
    assert Delivery.objects.get(id=delivery.id).stage == Delivery.Stage.WAITING


def test_a_courier_taken_off_shift_gets_no_delivery(admin_client):
    Courier.objects.exclude(name=Courier.objects.order_by("id").first().name).update(active=False)
    only = Courier.objects.get(active=True)
    response = admin_client.post(f"/admin/delivery/courier/{only.id}/change/", {"name": only.name, "phone": only.phone})
    assert response.status_code == 302  # "active" unticked
    assert not Courier.objects.filter(active=True).exists()
    delivery = open_delivery()
    assert services.deliveries_dispatch() == 0
    assert Delivery.objects.get(id=delivery.id).stage == Delivery.Stage.WAITING

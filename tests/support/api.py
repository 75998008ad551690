"""Customers and staff with API tokens, and an order-body builder, for in-process API tests."""

from __future__ import annotations

import json

from django.contrib.auth.models import User
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient


def client_for(user: User | None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client


def order_body(**overrides) -> dict:
    body = {
        "customer": {"name": "Ada Lovelace", "phone": "+1 843 555 0199"},
        "deliveryAddress": {"street": "12 Harbour Road", "city": "Charleston", "postalCode": "29401"},
        "items": [{"itemId": "margherita-30", "quantity": 2}, {"itemId": "tiramisu", "quantity": 1}],
    }
    body.update(overrides)
    return body


def place(api: APIClient, body: dict | None = None, **headers):
    return api.post("/api/orders/", data=json.dumps(body or order_body()), content_type="application/json", **headers)

"""The API's token authentication: DRF's answers, from one fixed statement."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.authtoken.models import Token

from client_app.orders.api.authentication import token_with_user
from tests.support.api import client_for

pytestmark = pytest.mark.django_db


def test_the_lookup_loads_the_token_and_its_user_as_the_orm_does(alice):
    user = User.objects.get(username="alice")
    user.last_login = timezone.now()
    user.save()
    expected = Token.objects.select_related("user").get(user=user)
    with CaptureQueriesContext(connection) as queries:
        token, found = token_with_user(expected.key)
        assert token.user is found  # loaded with the token: reading it costs no query
    assert len(queries) == 1
    assert (token.pk, token.user_id, token.created) == (expected.pk, expected.user_id, expected.created)
    assert {f.attname: getattr(found, f.attname) for f in User._meta.concrete_fields} == {
        f.attname: getattr(expected.user, f.attname) for f in User._meta.concrete_fields
    }
    assert not found._state.adding and found._state.db == "default"


def test_an_unknown_key_finds_nothing(db):
    assert token_with_user("0" * 40) is None


def test_an_inactive_customer_is_refused_like_an_unknown_token(alice):
    User.objects.filter(username="alice").update(is_active=False)
    response = alice.get("/api/orders/")
    assert response.status_code == 401 and response["WWW-Authenticate"] == "Token"
    assert response.json()["message"] == "User inactive or deleted."
    intruder = client_for(None)
    intruder.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    refused = intruder.get("/api/orders/")
    assert refused.status_code == 401 and refused.json()["message"] == "Invalid token."


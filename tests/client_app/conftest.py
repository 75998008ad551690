"""Fixtures of the Client App's API tests: customers and staff with API tokens."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from rest_framework.test import APIClient

from tests.support.api import client_for


@pytest.fixture(autouse=True)
def fresh_throttle_history():
    cache.clear()


@pytest.fixture
def alice(db) -> APIClient:
    return client_for(User.objects.create_user("alice", password="alice-password-1"))


@pytest.fixture
def bob(db) -> APIClient:
    return client_for(User.objects.create_user("bob", password="bob-password-1"))


@pytest.fixture
def staff(db) -> APIClient:
    return client_for(User.objects.create_user("oscar", password="oscar-password-1", is_staff=True))

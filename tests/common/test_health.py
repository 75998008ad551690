"""/healthz answers while the process lives; /readyz names the dependency that is down."""

from __future__ import annotations

import pytest
from django.test import Client

from common.devstack.ports import free_port
from tests.support.config import configure

pytestmark = pytest.mark.django_db


def test_healthz_needs_nothing():
    response = Client().get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


@pytest.mark.integration
def test_readyz_when_database_and_broker_answer(kafka_bootstrap, settings):
    configure(settings, kafka_bootstrap_servers=kafka_bootstrap)
    response = Client().get("/readyz")
    assert response.status_code == 200 and response.json() == {"status": "ready", "database": "ok", "kafka": "ok"}


def test_readyz_names_an_unreachable_broker(settings):
    configure(settings, kafka_bootstrap_servers=f"127.0.0.1:{free_port()}")
    response = Client().get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["code"] == "not_ready" and list(body["errors"]) == ["kafka"]

"""Persistent database connections as production configures them (common.settings.parse_database_url).

Requests go through Django's WSGI handler, not the test client, because only the real handler
runs ``close_old_connections`` at the start and end of each request. (Here, not beside the API's
tests: a transactional test empties the database, menu included, for the tests after it.)
"""

from __future__ import annotations

import io

import psycopg
import pytest
from django.contrib.auth.models import User
from django.core.handlers.wsgi import WSGIHandler
from django.db import connection
from rest_framework.authtoken.models import Token

from common.settings import parse_database_url

PRODUCTION = parse_database_url("postgresql://h/o")


@pytest.fixture
def production_connection():
    """The test connection with production's reuse and health-check settings, closed again after."""
    saved = {k: connection.settings_dict[k] for k in ("CONN_MAX_AGE", "CONN_HEALTH_CHECKS")}
    connection.close()
    connection.settings_dict.update(CONN_MAX_AGE=PRODUCTION["CONN_MAX_AGE"],
                                    CONN_HEALTH_CHECKS=PRODUCTION["CONN_HEALTH_CHECKS"])
    yield connection
    connection.close()
    connection.settings_dict.update(saved)


def _get(path: str, token: str) -> int:
    environ = {
        "REQUEST_METHOD": "GET", "PATH_INFO": path, "SCRIPT_NAME": "", "QUERY_STRING": "", "SERVER_NAME": "testserver",
        "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1", "HTTP_HOST": "testserver",
        "HTTP_AUTHORIZATION": f"Token {token}", "wsgi.input": io.BytesIO(), "wsgi.errors": io.StringIO(),
        "wsgi.url_scheme": "http", "wsgi.version": (1, 0), "wsgi.multithread": True, "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    answered: list[str] = []
    body = WSGIHandler()(environ, lambda status, headers, *_: answered.append(status))
    body.close()  # ends the request: request_finished, close_old_connections
    return int(answered[0].split()[0])


@pytest.mark.django_db(transaction=True)
def test_a_connection_broken_while_idle_costs_one_request_then_is_replaced(production_connection):
    # Production checks no connection before each request (no SELECT 1 per request): this is the price.
    assert PRODUCTION["CONN_HEALTH_CHECKS"] is False and PRODUCTION["CONN_MAX_AGE"] > 0
    token = Token.objects.create(user=User.objects.create_user("ada", password="x")).key
    assert _get("/api/orders/", token) == 200
    reused = production_connection.connection
    assert reused is not None  # kept for the next request
    with psycopg.connect(**production_connection.get_connection_params()) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [reused.info.backend_pid])  # as a server restart would
    assert _get("/api/orders/", token) == 503  # database_unavailable; Django then finds it unusable and drops it
    assert production_connection.connection is None
    assert _get("/api/orders/", token) == 200


@pytest.mark.django_db
def test_a_statement_run_again_and_again_is_prepared_once_on_the_server():
    # Django turns psycopg's preparing off unless OPTIONS asks; production's settings ask.
    assert PRODUCTION["OPTIONS"]["prepare_threshold"] == 5
    assert connection.settings_dict["OPTIONS"]["prepare_threshold"] == 5

    def prepared() -> list[str]:
        with connection.cursor() as cursor:
            cursor.execute("SELECT statement FROM pg_prepared_statements WHERE statement LIKE %s",
                           ["%authtoken_token%"])
            return [statement for (statement,) in cursor.fetchall()]

    assert not Token.objects.filter(key="no-such-token").exists()
    assert prepared() == []  # a statement run once is not worth preparing
    for attempt in range(8):
        assert not Token.objects.filter(key=f"no-such-token-{attempt}").exists()
    assert len(prepared()) == 1  # prepared once (on its sixth run), then reused

"""Session-wide real infrastructure for the suite: PostgreSQL and Kafka.

Both come from the environment when configured (``PALMETTO_TEST_DATABASE_URL``
-- a server URL whose user may create databases -- and
``KAFKA_BOOTSTRAP_SERVERS``); otherwise the session provisions them itself
(:mod:`common.devstack`). When neither works the tests that need them FAIL with a
message saying what is missing; they are never skipped.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.support.provisioning import or_fail

if TYPE_CHECKING:
    from common.devstack.platform import Platform

DatabaseFactory = Callable[[str], str]


@pytest.fixture(scope="session")
def database_factory() -> Iterator[DatabaseFactory]:
    """``factory(name) -> URL``: a fresh, empty database on the session's PostgreSQL server."""
    configured = os.environ.get("PALMETTO_TEST_DATABASE_URL")
    if configured:
        import psycopg

        def create(name: str) -> str:
            with psycopg.connect(configured, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                conn.execute(f'CREATE DATABASE "{name}"')
            parts = urlsplit(configured)
            return urlunsplit(parts._replace(path=f"/{name}"))

        yield create
        return
    from common.devstack.postgres import PostgresCluster

    cluster = PostgresCluster()
    with or_fail("PostgreSQL"):
        cluster.start()

    def create_local(name: str) -> str:
        cluster.create_database(name)
        return cluster.url(name)

    yield create_local
    cluster.stop()


@pytest.fixture(scope="session")
def django_db_modify_db_settings(database_factory: DatabaseFactory) -> None:
    """Point the test project at the provisioned server before pytest-django creates its test database."""
    from django.conf import settings

    from common.settings import parse_database_url

    settings.DATABASES["default"].update(parse_database_url(database_factory("palmetto_bootstrap")))
    settings.DATABASES["default"]["CONN_MAX_AGE"] = 0


def _docker_engine_answers() -> bool:
    try:
        import docker

        return bool(docker.from_env(timeout=2).ping())
    except Exception:
        return False


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """Bootstrap servers of a real Kafka broker for the whole session."""
    configured = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if configured:
        yield configured
        return
    if _docker_engine_answers():
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer().with_kraft() as container:
            yield container.get_bootstrap_server()
        return
    from common.devstack.kafka_broker import KafkaBroker

    broker = KafkaBroker()
    with or_fail("Kafka"):
        servers = broker.start()
    yield servers
    broker.stop()


@pytest.fixture
def topic_prefix() -> str:
    """A prefix no other test uses, so each test has its own topics and consumer groups."""
    return f"t{uuid.uuid4().hex[:10]}."


@pytest.fixture
def kafka_topics(kafka_bootstrap: str, topic_prefix: str, settings) -> str:
    """Create this test's topics and point the Django settings at them; returns the prefix."""
    from common.kafka.admin import ensure_topics
    from tests.support.config import configure

    ensure_topics(kafka_bootstrap, topic_prefix)
    configure(settings, kafka_bootstrap_servers=kafka_bootstrap, topic_prefix=topic_prefix)
    return topic_prefix


@pytest.fixture
def platform(request, kafka_bootstrap: str, database_factory: DatabaseFactory, tmp_path) -> Iterator[Platform]:
    """The platform running as real processes against the session's broker and PostgreSQL.

    Stage timings are zero; parametrize indirectly with a dict to override environment variables.
    """
    from common.devstack.platform import running_platform

    with running_platform(kafka_bootstrap, database_factory, tmp_path, getattr(request, "param", None)) as running:
        yield running

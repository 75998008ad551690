"""Fault scenarios get their own broker and PostgreSQL when they kill or restart them."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from common.devstack.kafka_broker import KafkaBroker
from common.devstack.platform import Platform, running_platform
from common.devstack.postgres import PostgresCluster
from tests.support.provisioning import or_fail


@pytest.fixture
def own_broker(tmp_path) -> Iterator[KafkaBroker]:
    broker = KafkaBroker(tmp_path / "kafka")
    with or_fail("Kafka"):
        broker.start()
    yield broker
    broker.stop()


@pytest.fixture
def own_postgres() -> Iterator[PostgresCluster]:
    # Not under tmp_path: the server may run as the postgres user, who cannot enter pytest's private
    # temp root. A given work dir also survives stop(), so the test can start the same data again.
    work_dir = Path(tempfile.mkdtemp(prefix="palmetto-faults-pg-"))
    work_dir.chmod(0o755)
    cluster = PostgresCluster(work_dir)
    with or_fail("PostgreSQL"):
        cluster.start()
    yield cluster
    cluster.stop()
    shutil.rmtree(work_dir, ignore_errors=True)


@pytest.fixture
def isolated_platform(own_broker, own_postgres, tmp_path) -> Iterator[Platform]:
    """The platform on a broker and a PostgreSQL of its own, which the test may kill and restart."""
    logs = tmp_path / "logs"
    logs.mkdir()
    with running_platform(own_broker.bootstrap_servers, own_postgres.create_database, logs) as platform:
        yield platform

"""The README's topic table and configuration table say what the code does."""

from __future__ import annotations

import re
from pathlib import Path

from common import deployment
from common.events import REGISTRY
from common.topics import DLT_SUFFIX, TOPICS

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def table_rows(heading: str) -> dict[str, list[str]]:
    """The first table under ``heading``: first cell -> the other cells."""
    section = README.split(heading, 1)[1]
    rows: dict[str, list[str]] = {}
    for line in section.splitlines():
        if not line.startswith("|"):
            if rows:
                break
            continue
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if not set(cells[0]) <= set("-: "):
            rows[cells[0]] = cells[1:]
    return rows


def names(cell: str) -> set[str]:
    return {part.strip() for part in cell.split(",")}


def test_topic_table_lists_every_topic_with_its_producers_consumers_partitions_and_events():
    rows = {name.strip("`"): cells for name, cells in table_rows("### Topics").items()}
    assert set(rows) == {"topic", *(t.name for t in TOPICS), *(t.name + DLT_SUFFIX for t in TOPICS)}
    for topic in TOPICS:
        produced_by, consumed_by, key, partitions, carries = rows[topic.name]
        assert names(produced_by) == set(topic.producers), topic.name
        assert names(consumed_by) == set(topic.consumers), topic.name
        assert key == "correlation ID" and int(partitions) == topic.partitions
        carried = {f"`{cls.event_type}` v{cls.version}" for cls in REGISTRY.values() if cls.topic == topic}
        assert all(event in carries for event in carried), f"{topic.name}: {carried} not all in {carries!r}"
        dlt_producers, dlt_consumers, _, dlt_partitions, _ = rows[topic.name + DLT_SUFFIX]
        assert names(dlt_producers) == set(topic.consumers) and dlt_consumers == "operators"
        assert int(dlt_partitions) == topic.partitions


def test_configuration_table_names_every_environment_variable():
    source = (ROOT / "common" / "config.py").read_text()
    variables = set(re.findall(r'"((?:PALMETTO|DJANGO|KAFKA|EMAIL)_[A-Z_]+|DEFAULT_FROM_EMAIL)"', source))
    variables |= {service.database_env for service in deployment.SERVICES}
    variables |= {service.port_env for service in deployment.SERVICES}
    variables |= {service.metrics_port_env for service in deployment.SERVICES}
    first_cells = " ".join(table_rows("## Running one service on its own"))
    documented = set(re.findall(r"`([A-Z][A-Z_]+)`", first_cells))
    assert variables - documented == set()


def test_url_table_lists_the_tracking_page_and_every_metrics_endpoint():
    urls = " ".join(f"{url} {' '.join(cells)}" for url, cells in table_rows("## Order a pizza").items())
    assert "/track/<orderId>/" in urls and "/accounts/login/" in urls and "`/metrics`" in urls
    for service in deployment.SERVICES:
        assert f"http://127.0.0.1:{service.metrics_port}/metrics" in urls, service.name


def _backticked(cell: str) -> set[str]:
    return set(re.findall(r"`([^`]+)`", cell))


def test_kafka_security_table_matches_the_acl_policy():
    from common.kafka.acl import PRINCIPALS, policy, principal_name

    rows = {name.strip("`"): cells for name, cells in table_rows("### Kafka security").items()}
    assert set(rows) == {"principal", *(principal_name("", p) for p in PRINCIPALS)}
    for principal in PRINCIPALS:
        writes, reads, groups = rows[principal_name("", principal)]
        grants = [g for g in policy() if g.principal == principal]
        topics = [g for g in grants if g.kind == "topic"]
        assert _backticked(writes) == {g.name for g in topics if "WRITE" in g.operations}, principal
        readable = {g.name for g in topics if "READ" in g.operations}
        assert _backticked(reads) - {"GET /api/topics/{topic}/order-ids/"} == readable, principal
        named = {
            principal_name("", g.name.removeprefix("group:")) if g.name.startswith("group:") else g.name + "*"
            for g in grants
            if g.kind == "group"
        }
        assert _backticked(groups) == named, principal

"""The operations files: Prometheus alerting rules and config checked by the real promtool (with the rules'
unit tests), and every metric the rules and the Grafana dashboard use is one the code defines."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from common import metrics
from tests.support.provisioning import ensure_system_packages

ROOT = Path(__file__).resolve().parent.parent
PROMETHEUS = ROOT / "docker" / "prometheus"
DASHBOARD = ROOT / "docker" / "grafana" / "palmetto.json"
# Metrics Prometheus itself adds to every scrape.
BUILT_IN = {"up"}


@pytest.fixture(scope="module")
def promtool() -> str:
    return ensure_system_packages({"promtool": "prometheus"}, ("prometheus",))["promtool"]


@pytest.mark.parametrize("args", [
    ("check", "rules", "alerts.yml"),
    ("check", "config", "prometheus.yml"),
    ("test", "rules", "alerts_test.yml"),
], ids=" ".join)
def test_promtool_accepts_the_files(promtool, args):
    done = subprocess.run([promtool, *args], cwd=PROMETHEUS, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"promtool {' '.join(args)}:\n{done.stdout}\n{done.stderr}"


def _metric_names(expression: str) -> set[str]:
    """The metric names an expression reads (labels, functions and strings aside, ours are palmetto_*)."""
    return set(re.findall(r"\b(palmetto_[a-z0-9_]+|up)\b(?!\s*\()", re.sub(r'"[^"]*"', '""', expression)))


def _rule_expressions() -> list[str]:
    text = (PROMETHEUS / "alerts.yml").read_text()
    # Every rule's expression follows "expr:" (a literal block or one line); the YAML is checked by promtool.
    blocks = re.findall(r"expr:\s*\|\n((?:\s{10,}.*\n)+)|expr:\s*(.+)\n", text)
    return [block or line for block, line in blocks]


def _dashboard_expressions() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


def test_every_metric_the_alerts_use_is_defined():
    expressions = _rule_expressions()
    assert len(expressions) == (PROMETHEUS / "alerts.yml").read_text().count("- alert:")
    used = set().union(*map(_metric_names, expressions))
    assert used - metrics.metric_names() - BUILT_IN == set()
    for name in ("palmetto_consumer_lag", "palmetto_outbox_oldest_unsent_age_seconds",
                 "palmetto_consumer_dead_lettered_total", "palmetto_consumer_messages_consumed_total"):
        assert name in used


def test_every_metric_the_dashboard_uses_is_defined_and_every_metric_is_on_it():
    used = set().union(*map(_metric_names, _dashboard_expressions()))
    assert used - metrics.metric_names() - BUILT_IN == set()
    shown = {re.sub(r"_(total|bucket|sum|count)$", "", name) for name in used}
    defined = {re.sub(r"_(total|bucket|sum|count|created)$", "", name) for name in metrics.metric_names()}
    assert defined - shown == set(), "metrics missing from the dashboard"

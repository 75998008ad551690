"""The benchmark command with tiny numbers: its JSON report holds sane figures and the invariants passed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from common.config import BASE_DIR
from common.devstack import stack

pytestmark = pytest.mark.e2e


def test_the_benchmark_reports_sane_figures_and_passes_the_invariants(kafka_bootstrap, database_factory):
    server = database_factory("palmetto_bench_server")  # the bench creates its own databases beside this one
    # As a user runs it: without the test suite's settings module and secret key.
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "DJANGO_SECRET_KEY")}
    finished = subprocess.run(
        [sys.executable, "-m", "common.devstack.bench", "--json", "--quiet", "--kafka", kafka_bootstrap,
         "--postgres", server, "--orders", "40", "--concurrency", "4", "--rate", "10", "--duration", "2",
         "--api-orders", "20", "--ceiling-messages", "5000", "--idle-seconds", "1", "--customers", "5",
         "--warm-up", "20", "--open-warm-up", "1"],
        cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=400,
    )  # fmt: skip
    assert finished.returncode == 0, finished.stdout[-4000:] + finished.stderr[-4000:]
    report = json.loads(finished.stdout)
    assert report["ok"] and report["invariants"]["passed"]
    # Closed, open, API-only, warm-up, and the open loop's warm-up (10 orders/s for 1 s).
    assert report["invariants"]["figures"]["acknowledged"] == 40 + 20 + 20 + 20 + 10
    # A broker of its own (--kafka): no JIT to watch, so one warm-up round.
    assert report["warm_up"] == {"orders": 20, "broker_jit_percent_of_one_core": None, "open_loop_orders": 10}
    assert report["invariants"]["figures"]["final statuses"] == {"DELIVERED": 110}

    closed, opened = report["closed_loop"], report["open_loop"]
    assert closed["acknowledged"] == 40 and closed["errors"] == {} and closed["unfinished"] == 0
    assert opened["acknowledged"] == 20 and opened["errors"] == {} and opened["unfinished"] == 0
    for run in (closed, opened):
        assert run["orders_per_s"] > 0
        assert 0 < run["post_s"]["p50"] <= run["post_s"]["p95"] <= run["post_s"]["p99"]
        assert 0 < run["lifecycle_s"]["p50"] <= run["lifecycle_s"]["p99"]
        assert len(run["hops_s"]) == 5, run["hops_s"]  # five hops from PLACED to DELIVERED
        assert sum(run["hops_s"][hop]["p50"] for hop in run["hops_s"]) <= run["lifecycle_s"]["max"] * 1.01
        assert {"web (gunicorn)", "client runconsumers", "palmetto runconsumers", "courier runconsumers"} <= set(
            run["cpu_ms_per_order"]
        )
        assert all(v >= 0 for v in run["cpu_ms_per_order"].values())
        assert run["cpu_ms_per_order"]["client runconsumers"] > 0
        assert run["broker_jit_percent_of_one_core"] is None  # not our broker: its threads are not ours to read

    ceilings = report["ceilings"]
    assert ceilings["produce_msgs_per_s"] > 0 and ceilings["consume_msgs_per_s"] > 0 and ceilings["commits_per_s"] > 0
    assert ceilings["api_only"]["orders_per_s"] > 0 and ceilings["api_only"]["errors"] == {}
    assert 0 < report["ratios"]["end_to_end_of_api_only"]
    assert report["idle_cpu_percent_of_one_core"]["total"] >= 0
    assert report["idle_broker_jit_percent_of_one_core"] is None  # likewise: not our broker
    assert report["idle_after_vacuum"] is True  # the warm-up's rows vacuumed before idle is measured
    assert all(0 < mb < 4096 for mb in report["peak_memory_mb"].values())
    # The runconsumers yield the CPU to the API, as on the one-machine platform (common.priority); the web does not.
    priority, base = report["cpu_priority"], os.nice(0)
    lowered = base + int(os.environ.get("PALMETTO_WORKER_NICE", stack.COLOCATED_WORKER_NICE))
    assert priority["web (gunicorn)"]["nice"] == base
    for service in ("client", "palmetto", "courier"):
        assert priority[f"{service} runconsumers"]["nice"] == lowered, priority
        if Path("/proc/self/autogroup").exists():  # each runs in a session, so an autogroup, of its own
            assert priority[f"{service} runconsumers"]["autogroup_nice"] == lowered, priority

"""Gunicorn configuration for every service's web process: ``gunicorn -c python:common.gunicorn_hooks ...``.

Gunicorn's workers are separate processes, each with its own prometheus-client counters. In
multiprocess mode every worker writes its figures to files in ``PROMETHEUS_MULTIPROC_DIR`` and a
scrape of ``/metrics`` (answered by any one worker) adds them all up. The directory must exist
before a worker imports prometheus-client and must be empty when the master starts, so this
module -- which gunicorn's master imports before it forks any worker -- makes a fresh one for
this master (unless the operator chose one), and removes a dead worker's live gauges.

``PROMETHEUS_MULTIPROC_DIR`` is prometheus-client's own switch, read by the library itself; it is
plumbing between this master and its workers, not platform configuration (see common/config.py).
"""

from __future__ import annotations

import os
import shutil
import tempfile

if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    _directory = tempfile.mkdtemp(prefix="palmetto-prometheus-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = _directory
else:
    _directory = None


def child_exit(server, worker) -> None:
    """A worker exited: drop its live gauges (its counters stay, so totals never go backwards)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server) -> None:
    """The master stops: remove the directory it made."""
    if _directory:
        shutil.rmtree(_directory, ignore_errors=True)

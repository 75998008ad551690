"""A worker lowers its CPU priority for itself, the threads it starts, and its session's autogroup only."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from common.config import BASE_DIR
from common.priority import autogroup_nice

# Run in a child process: a raised nice cannot be lowered again without privileges.
CHILD = """
import json, os, threading
from common.priority import autogroup_nice, lower_cpu_priority
before = autogroup_nice()
set_ = lower_cpu_priority(int(os.environ["INCREMENT"]))
seen = {}
thread = threading.Thread(target=lambda: seen.update(nice=os.nice(0)))
thread.start(); thread.join()
print(json.dumps({"before": before, "nice": set_.nice, "autogroup_set": set_.autogroup_nice,
                  "thread_nice": seen["nice"], "autogroup_after": autogroup_nice()}))
"""


def run_child(increment: int, *, own_session: bool) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", CHILD], cwd=BASE_DIR, env=os.environ | {"INCREMENT": str(increment)},
        capture_output=True, text=True, timeout=60, start_new_session=own_session, check=True,
    )
    return json.loads(done.stdout)


def test_a_worker_in_its_own_session_lowers_its_threads_and_its_autogroup():
    start = os.nice(0)
    seen = run_child(5, own_session=True)
    assert seen["nice"] == start + 5
    assert seen["thread_nice"] == start + 5  # a thread started afterwards inherits it
    if Path("/proc/self/autogroup").exists():  # this kernel schedules sessions as groups
        assert seen["before"] == 0
        assert seen["autogroup_set"] == seen["autogroup_after"] == start + 5
    else:
        assert seen["autogroup_set"] is None


def test_a_worker_sharing_its_session_leaves_the_autogroup_alone():
    """The shell (here: the test run) that started it keeps its priority."""
    ours = autogroup_nice()
    seen = run_child(3, own_session=False)
    assert seen["thread_nice"] == os.nice(0) + 3
    assert seen["autogroup_set"] is None
    assert seen["autogroup_after"] == ours == autogroup_nice()


def test_no_increment_changes_nothing():
    seen = run_child(0, own_session=True)
    assert seen["nice"] == seen["thread_nice"] == os.nice(0)
    assert seen["autogroup_set"] is None
    assert seen["autogroup_after"] == seen["before"]


def test_nice_reads_a_processs_nice_and_none_once_it_is_gone():
    from common.priority import nice

    child = subprocess.Popen(["nice", "-n", "4", sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        deadline = time.monotonic() + 10
        while nice(child.pid) != os.nice(0) + 4 and time.monotonic() < deadline:
            time.sleep(0.05)  # until nice(1) has exec'd python with the raised nice
        assert nice(child.pid) == os.nice(0) + 4
        assert nice(os.getpid()) == os.nice(0)
    finally:
        child.kill()
        child.wait()
    assert nice(child.pid) is None

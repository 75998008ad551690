"""CPU priority of a worker process that shares its host with the Client API.

On a host that runs the API and the ``runconsumers`` side by side, both want the same cores
under load. Background work should then yield to customers' requests: the pipeline falls
behind for a while, takes its backlog in bigger batches (which cost less per order), and the
API keeps answering. :func:`lower_cpu_priority` is how a worker asks for that.

Plain ``nice`` is not enough on Linux with *autogroup* (``/proc/sys/kernel/sched_autogroup_enabled``,
on by default in many distributions' kernels): the scheduler first shares the CPU between
sessions, each an autogroup of equal weight whatever its processes' ``nice``, and only then
between the threads of a session. A worker started in a session of its own (as a service
manager or ``python -m common.devstack`` starts it) is its own autogroup, so its weight is
set through ``/proc/self/autogroup``. Under a cgroup CPU controller (systemd units with
``CPUWeight=``) autogroup does not apply and the unit's weight is what counts.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("palmetto.priority")

AUTOGROUP = Path("/proc/self/autogroup")
# Unprivileged writes to an autogroup file are limited to ten a second on the whole host.
_AUTOGROUP_ATTEMPTS = 5


@dataclass(frozen=True)
class Priority:
    """What :func:`lower_cpu_priority` set: the thread's ``nice`` and, if it changed it, the autogroup's."""

    nice: int
    autogroup_nice: int | None


def lower_cpu_priority(increment: int) -> Priority:
    """Add ``increment`` to the ``nice`` of the calling thread; set the process's autogroup to the same.

    Call it before starting threads: Linux keeps ``nice`` per thread, and a thread starts with
    its creator's (librdkafka's threads included). The autogroup is changed only when this
    process leads its session, so that it never lowers the priority of other processes that
    share the session (the shell that started it, say); when it does not, or the kernel has no
    autogroup, ``autogroup_nice`` is None. ``increment`` 0 changes nothing.
    """
    if increment == 0:
        return Priority(nice=os.nice(0), autogroup_nice=None)
    nice = os.nice(increment)
    autogroup_nice = None
    if os.getsid(0) == os.getpid() and AUTOGROUP.exists():
        autogroup_nice = _set_autogroup_nice(nice)
    log.info("CPU priority lowered: nice %d, autogroup %s", nice,
             "unchanged" if autogroup_nice is None else f"nice {autogroup_nice}")
    return Priority(nice=nice, autogroup_nice=autogroup_nice)


def nice(pid: int) -> int | None:
    """The ``nice`` of ``pid``'s main thread (Linux keeps it per thread); None when it is gone."""
    try:
        return os.getpriority(os.PRIO_PROCESS, pid)
    except ProcessLookupError:
        return None


def autogroup_nice(pid: int | str = "self") -> int | None:
    """The ``nice`` of ``pid``'s autogroup (``/autogroup-42 nice 5``), None without autogroup."""
    try:
        return int(Path(f"/proc/{pid}/autogroup").read_text().split()[-1])
    except (OSError, ValueError, IndexError):
        return None


def _set_autogroup_nice(nice: int) -> int | None:
    for attempt in range(_AUTOGROUP_ATTEMPTS):
        try:
            AUTOGROUP.write_text(str(nice))
            return nice
        except BlockingIOError:  # EAGAIN: another process wrote an autogroup less than 0.1 s ago
            time.sleep(0.1 * (attempt + 1))
        except OSError as exc:
            log.warning("could not lower the autogroup's CPU priority (%s); the thread's nice still applies", exc)
            return None
    log.warning("could not lower the autogroup's CPU priority (the kernel kept answering EAGAIN)")
    return None

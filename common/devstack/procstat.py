"""CPU time and memory of process trees, read from ``/proc`` (Linux), for the benchmark.

A *tree* is a root pid and its live descendants. Its CPU time is the sum over the live processes
of their own time plus the time of the children they reaped (``cutime``/``cstime``), so a
PostgreSQL backend that exits is still counted, by the postmaster that reaped it. Memory is the
proportional set size (``Pss``: shared pages split between the processes sharing them) where the
kernel offers it, else the resident set.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its closing one.
    return text[text.rindex(")") + 2 :].split()


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields is not None:
                children.setdefault(int(fields[1]), []).append(int(entry.name))
    return children


def tree(root: int, children: dict[int, list[int]] | None = None) -> list[int]:
    """``root`` and its live descendants (empty when ``root`` is gone)."""
    if _stat_fields(root) is None:
        return []
    children = _children_map() if children is None else children
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def cpu_seconds(pids: list[int]) -> float:
    """CPU seconds (user + system, including reaped children) of ``pids`` together."""
    total = 0
    for pid in pids:
        fields = _stat_fields(pid)
        if fields is not None:  # fields[11:15]: utime, stime, cutime, cstime
            total += sum(int(f) for f in fields[11:15])
    return total / TICKS


def compiler_seconds(pids: list[int]) -> float:
    """CPU seconds the JVM's JIT compiler threads (``C1``/``C2 CompilerThread<n>``) of ``pids`` used so far."""
    total = 0
    for pid in pids:
        try:
            tasks = list(os.scandir(f"/proc/{pid}/task"))
        except OSError:
            continue
        for task in tasks:
            try:
                if "CompilerThre" not in Path(task.path, "comm").read_text():
                    continue
                text = Path(task.path, "stat").read_text()
            except OSError:
                continue
            total += sum(int(f) for f in text[text.rindex(")") + 2 :].split()[11:13])
    return total / TICKS


class CompilerShare:
    """The share of one core (%) the JIT compiler threads of ``pids`` use from its creation on."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = list(pids)
        self._seconds, self._since = compiler_seconds(self.pids), time.monotonic()

    def percent(self) -> float | None:
        """So far; None without pids (a broker that is not ours to read)."""
        if not self.pids:
            return None
        return 100 * (compiler_seconds(self.pids) - self._seconds) / (time.monotonic() - self._since)


def memory_bytes(pids: list[int]) -> int:
    """Proportional set size of ``pids`` together (resident set where Pss is unreadable)."""
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1]) * 1024
                    break
            continue
        except (OSError, ValueError):
            pass
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            pass
    return total


class Watched:
    """Named process trees: CPU seconds since :meth:`mark` and the peak memory seen by :meth:`sample`."""

    def __init__(self, roots: dict[str, int]) -> None:
        self.roots = dict(roots)
        self.peak: dict[str, int] = dict.fromkeys(roots, 0)

    def cpu(self) -> dict[str, float]:
        children = _children_map()
        return {name: cpu_seconds(tree(pid, children)) for name, pid in self.roots.items()}

    def sample(self) -> None:
        children = _children_map()
        for name, pid in self.roots.items():
            self.peak[name] = max(self.peak[name], memory_bytes(tree(pid, children)))


def delta(after: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    return {name: after[name] - before.get(name, 0.0) for name in after}

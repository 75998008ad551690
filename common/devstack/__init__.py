"""Development and test provisioning: never imported by the running services.

A real Kafka broker and PostgreSQL provisioned by the project itself, without Docker
(:mod:`.kafka_broker`, :mod:`.postgres`), the local stack that runs the whole platform on one
machine (:mod:`.stack`, ``python -m common.devstack``) and a by-hand self-check (:mod:`.selfcheck`).

This package holds what both provisioners share: the one error they raise, a
log-tail helper for error messages, and :class:`OrphanGuard`, which makes sure a
server we started dies with us even when our process is killed outright.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path


class ProvisioningError(RuntimeError):
    """A real component could not be provisioned; the message says what is missing or what failed."""


def tail(paths: Iterable[Path], lines: int = 40) -> str:
    """The last ``lines`` lines of each existing file in ``paths``, headed by its name (for error messages)."""
    parts = []
    for path in paths:
        try:
            text = path.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            continue
        parts.append(f"--- last {len(text)} lines of {path} ---\n" + "\n".join(text))
    return "\n".join(parts) or "(no log output)"


# Runs in a separate, tiny Python process. It learns which process groups to
# watch over a pipe from its owner. When the pipe reaches end-of-file, the owner
# is gone (closed it, exited, or was SIGKILLed: the kernel closes the pipe in
# every case), so whatever is still watched is an orphan: kill it, and delete the
# owner's scratch directory. atexit alone cannot do this: it does not run when
# the interpreter dies from SIGKILL or an unhandled SIGTERM (e.g. a CI timeout).
_WATCHDOG = """# common.devstack.OrphanGuard watchdog (shows in ps)
import os, shutil, signal, sys
groups, cleanup = set(), ""
for line in sys.stdin:
    verb, _, arg = line.rstrip("\\n").partition(" ")
    if verb == "watch":
        groups.add(int(arg))
    elif verb == "forget":
        groups.discard(int(arg))
    elif verb == "cleanup":
        cleanup = arg
for group in groups:
    try:
        os.killpg(group, signal.SIGKILL)
    except OSError:
        pass
if cleanup:
    shutil.rmtree(cleanup, ignore_errors=True)
"""


class OrphanGuard:
    """Kills the watched process groups (and removes ``cleanup_dir``) once this guard's owner is gone.

    Contract: call :meth:`watch` with the process-group id of every server you
    start (start it with ``start_new_session=True`` so its pid is its pgid),
    :meth:`forget` once you have stopped it, and :meth:`close` when you are done.
    On close, or if this process dies first, anything still watched is SIGKILLed
    and ``cleanup_dir`` (if given) is deleted.
    """

    def __init__(self, cleanup_dir: Path | None = None) -> None:
        # Own session: a Ctrl-C in the terminal must not kill the watchdog
        # before it has done its job. close_fds (the default) keeps the pipe's
        # write end out of every other child, so only our death closes it.
        self._proc = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", _WATCHDOG],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            text=True,
        )
        if cleanup_dir is not None:
            self._send(f"cleanup {cleanup_dir}")

    def _send(self, line: str) -> None:
        assert self._proc.stdin is not None
        self._proc.stdin.write(line + "\n")
        self._proc.stdin.flush()

    def watch(self, pgid: int) -> None:
        self._send(f"watch {pgid}")

    def forget(self, pgid: int) -> None:
        self._send(f"forget {pgid}")

    def close(self) -> None:
        """Kill whatever is still watched, delete ``cleanup_dir``, and end the watchdog."""
        if self._proc.stdin is not None and not self._proc.stdin.closed:
            self._proc.stdin.close()
        self._proc.wait()

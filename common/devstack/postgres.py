"""A throwaway PostgreSQL cluster (``initdb`` + ``pg_ctl``) on a free loopback port, without Docker.

Used by the test suite when no database URL is configured: one cluster per
test session, one database per service in it. Tuned for tests (``fsync=off``,
trust authentication), never for data that matters.
"""

from __future__ import annotations

import atexit
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Self
from urllib.parse import quote

from common.devstack import OrphanGuard, ProvisioningError, tail
from common.devstack.ports import LOOPBACK, free_port

SUPERUSER = "postgres"
# initdb and postgres refuse to run as root; as root we run them as this system user.
SERVER_OS_USER = "postgres"
# Our postgresql.conf entries, in the data dir and included from postgresql.conf.
_SETTINGS_FILE = "palmetto.conf"


def find_bindir() -> Path:
    """The folder of the PostgreSQL server binaries.

    Tried in order: ``$PG_BINDIR``, ``pg_config --bindir``, the newest ``/usr/lib/postgresql/*/bin``.

    Raises :class:`ProvisioningError` if none of them holds ``initdb`` and ``pg_ctl``.
    """
    candidates: list[Path] = []
    if os.environ.get("PG_BINDIR"):
        candidates.append(Path(os.environ["PG_BINDIR"]))
    pg_config = shutil.which("pg_config")
    if pg_config:
        result = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        if result.returncode == 0:
            candidates.append(Path(result.stdout.strip()))
    # Debian/Ubuntu keep server binaries off PATH, one folder per major version.
    installed = Path("/usr/lib/postgresql").glob("*/bin")
    candidates += sorted(installed, key=lambda p: [int(n) for n in re.findall(r"\d+", p.parent.name)], reverse=True)
    for bindir in candidates:
        if (bindir / "initdb").is_file() and (bindir / "pg_ctl").is_file():
            return bindir
    raise ProvisioningError(
        "PostgreSQL server binaries (initdb, pg_ctl) were not found in $PG_BINDIR, `pg_config --bindir` "
        f"or /usr/lib/postgresql/*/bin (looked in: {', '.join(map(str, candidates)) or 'nothing'}). "
        "Install the server (e.g. apt-get install postgresql) or set PG_BINDIR."
    )


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, parent pid) of process ``pid``, None if there is none. Linux /proc only."""
    try:
        # The fields after the ")" that ends the command name start: state, ppid.
        state, ppid = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[:2]
    except (OSError, ValueError):
        return None
    return state, int(ppid)


def _alive(pid: int) -> bool:
    """Whether ``pid`` is a running process (a zombie is dead, merely not reaped yet)."""
    stat = _stat(pid)
    return stat is not None and stat[0] != "Z"


def _zombie(pid: int) -> bool:
    stat = _stat(pid)
    return stat is not None and stat[0] == "Z"


def _children(pid: int) -> list[int]:
    """Pids of the processes whose parent is ``pid``."""
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        stat = _stat(int(entry.name))
        if stat is not None and stat[1] == pid:
            found.append(int(entry.name))
    return found


class PostgresCluster:
    """A PostgreSQL cluster of its own: data dir, port and server log, started and stopped by this object.

    The port is chosen at construction and kept for the object's life, so
    :meth:`url` never changes: :meth:`restart` (also after :meth:`kill`) serves
    the same data on the same port. The Unix socket lives in the data dir, so no
    system directory (``/var/run/postgresql``) is needed. The server log is
    ``<work_dir>/server.log``.

    Use it as a context manager (start on enter, stop on exit). It is also
    stopped at interpreter exit, and killed by an :class:`OrphanGuard` if this
    process dies outright. A work dir created here (``work_dir=None``) is
    deleted by :meth:`stop`; a given one is kept (and reused: data survives,
    port and settings are this object's). As root the server runs as the
    ``postgres`` user, so a given work dir must be reachable by that user.
    Not thread-safe.
    """

    def __init__(
        self,
        work_dir: Path | str | None = None,
        *,
        port: int | None = None,
        settings: Mapping[str, object] | None = None,
        start_timeout: float = 60.0,
        stop_timeout: float = 30.0,
    ) -> None:
        """``settings`` are extra ``postgresql.conf`` entries (they win over the defaults below)."""
        self.port = port or free_port()
        self._given_dir = Path(work_dir).resolve() if work_dir is not None else None
        self._work_dir: Path | None = None
        self._settings = {
            "listen_addresses": LOOPBACK,
            "port": self.port,
            # Throwaway data: skip fsync. (synchronous_commit stays on: a commit
            # must survive kill() of the server, which fault tests rely on.)
            "fsync": "off",
            # Three services, each with consumers, relays and test threads.
            "max_connections": 200,
            **(settings or {}),
        }
        self._start_timeout, self._stop_timeout = start_timeout, stop_timeout
        self._bindir: Path | None = None
        self._guard: OrphanGuard | None = None
        self._pid: int | None = None  # the postmaster, also its process group (pg_ctl runs it under setsid)
        self._owner_pid = os.getpid()

    # -- public API ---------------------------------------------------------

    @property
    def work_dir(self) -> Path | None:
        """Holds ``data/`` (PGDATA) and ``server.log``; None until the first :meth:`start`."""
        return self._work_dir

    @property
    def data_dir(self) -> Path | None:
        """PGDATA (``<work_dir>/data``), which also holds the Unix socket; None until the first :meth:`start`."""
        return self._work_dir / "data" if self._work_dir else None

    @property
    def running(self) -> bool:
        """Whether our postmaster is alive."""
        return self._postmaster() is not None

    @property
    def pid(self) -> int | None:
        """The live postmaster's pid (its backends are its children), else None."""
        return self._postmaster()

    def bin(self, name: str) -> str:
        """Path of one of the cluster's server programs (e.g. ``pgbench``)."""
        return self._bin(name)

    def url(self, dbname: str = "postgres") -> str:
        """``postgresql://postgres@127.0.0.1:<port>/<dbname>`` (trust auth: no password)."""
        return f"postgresql://{SUPERUSER}@{LOOPBACK}:{self.port}/{quote(dbname, safe='')}"

    def start(self) -> None:
        """Initialise the cluster on first use, start the server and return once it accepts connections.

        Does nothing if the server is already running. Raises
        :class:`ProvisioningError` with the server log's tail if it cannot start.
        """
        if self.running:
            return
        self._prepare()
        assert self.data_dir is not None and self._guard is not None
        log = self._work_dir / "server.log"  # type: ignore[operator]
        self._write_settings()
        self._clear_zombie_lock()
        started = self._run(
            self._bin("pg_ctl"), "start", "-D", str(self.data_dir), "-l", str(log),
            "-w", "-t", str(int(self._start_timeout)), "-s",
        )  # fmt: skip
        self._pid = self._postmaster()  # also there after a timeout: pg_ctl leaves a slow server running
        if self._pid is not None:
            # The guard kills the postmaster only; its server processes exit on
            # their own once it is gone (PostgreSQL's postmaster-death check).
            self._guard.watch(self._pid)
        if started.returncode != 0:
            self.kill()
            raise ProvisioningError(
                f"PostgreSQL did not start on {LOOPBACK}:{self.port}:\n{started.stdout.strip()}\n" + tail([log])
            )
        self._wait_connectable(log)

    def stop(self) -> None:
        """Shut the server down (``pg_ctl stop -m fast``), end the guard, and delete a work dir created here."""
        self._shutdown()
        if self._guard is not None:
            self._guard.close()
            self._guard = None
            atexit.unregister(self._stop_at_exit)
        if self._given_dir is None and self._work_dir is not None:
            shutil.rmtree(self._work_dir, ignore_errors=True)
            self._work_dir = None

    def kill(self) -> None:
        """SIGKILL the postmaster and all its server processes at once (a crash, for fault tests). Data is kept."""
        postmaster = self._postmaster()
        if postmaster is None:
            self._forget_pid()
            return
        # Each server process is its own process group (PostgreSQL calls
        # setsid), so killpg would miss them: find them by parent. Freeze the
        # postmaster first so it cannot fork a new one while we look.
        try:
            os.kill(postmaster, signal.SIGSTOP)
        except ProcessLookupError:
            pass
        victims = [postmaster, *_children(postmaster)]
        for pid in victims:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        while any(_alive(pid) for pid in victims):
            time.sleep(0.05)
        self._forget_pid()

    def restart(self) -> None:
        """Stop the server if it runs, then start it again: same port, same data (crash recovery after kill)."""
        self._shutdown()
        self.start()

    def create_database(self, name: str) -> str:
        """Create database ``name`` unless it exists; return its :meth:`url`. Safe to call concurrently."""
        import psycopg
        from psycopg import errors, sql

        with psycopg.connect(self.url(), autocommit=True) as connection:
            exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
            if not exists:
                try:
                    connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
                except errors.DuplicateDatabase:  # created by someone else since our check
                    pass
        return self.url(name)

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- internals ----------------------------------------------------------

    def _stop_at_exit(self) -> None:
        if os.getpid() == self._owner_pid:  # not in a forked child that happens to exit normally
            self.stop()

    def _bin(self, name: str) -> str:
        assert self._bindir is not None
        return str(self._bindir / name)

    def _run(self, *command: str) -> subprocess.CompletedProcess[str]:
        """Run a PostgreSQL program as the server's OS user (see SERVER_OS_USER), output captured."""
        if os.geteuid() == 0:
            command = ("runuser", "-u", SERVER_OS_USER, "--", *command)
        # cwd: the server user may not be allowed into ours (e.g. /root).
        return subprocess.run(
            command, cwd=self._work_dir, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, check=False,
        )  # fmt: skip

    def _prepare(self) -> None:
        """Create the work dir, the guard and the initialised data dir, once."""
        if self._bindir is None:
            self._bindir = find_bindir()
        if self._work_dir is None:
            if self._given_dir is not None:
                self._work_dir = self._given_dir
                self._work_dir.mkdir(parents=True, exist_ok=True)
            else:
                self._work_dir = Path(tempfile.mkdtemp(prefix="palmetto-pg-"))
            if os.geteuid() == 0:
                try:
                    user = pwd.getpwnam(SERVER_OS_USER)
                except KeyError:
                    raise ProvisioningError(
                        f"Running as root, and PostgreSQL refuses to run as root; a {SERVER_OS_USER!r} "
                        "system user is needed to run it (it comes with the postgresql package)."
                    ) from None
                os.chown(self._work_dir, user.pw_uid, user.pw_gid)
        if self._guard is None:
            self._guard = OrphanGuard(cleanup_dir=None if self._given_dir else self._work_dir)
            atexit.register(self._stop_at_exit)
        data = self._work_dir / "data"
        if (data / "PG_VERSION").is_file():
            return  # initialised by an earlier start (restart, or a given work dir)
        # C.UTF-8 rather than C: upper()/lower() (Django's iexact) must handle non-ASCII.
        result = self._run(
            self._bin("initdb"), "-D", str(data), "-U", SUPERUSER, "--auth=trust", "--encoding=UTF8",
            "--locale=C.UTF-8", "--no-sync",
        )  # fmt: skip
        if result.returncode != 0:
            raise ProvisioningError(f"initdb failed in {data}:\n{result.stdout.strip()}")
        with open(data / "postgresql.conf", "a") as conf:  # read last, so its entries win
            conf.write(f"\n# Written on every start by common.devstack.postgres\ninclude '{_SETTINGS_FILE}'\n")

    def _write_settings(self) -> None:
        """(Re)write our settings file, so port and settings are this object's even in an older data dir."""
        assert self.data_dir is not None
        settings = {**self._settings, "unix_socket_directories": str(self.data_dir)}
        lines = []
        for name, value in settings.items():
            quoted = str(value).replace("'", "''")
            lines.append(f"{name} = '{quoted}'\n")
        path = self.data_dir / _SETTINGS_FILE
        path.write_text("".join(lines))
        if os.geteuid() == 0:  # keep the data dir the server user's own
            user = pwd.getpwnam(SERVER_OS_USER)
            os.chown(path, user.pw_uid, user.pw_gid)

    def _postmaster(self) -> int | None:
        """The pid of the live postmaster serving our data dir (from its lock file), else None.

        Checked against /proc, so a stale lock file or a recycled pid is never
        taken for our server (and never signalled).
        """
        if self.data_dir is None:
            return None
        try:
            pid = int((self.data_dir / "postmaster.pid").read_text().split()[0])
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError, IndexError):
            return None
        return pid if str(self.data_dir).encode() in cmdline and _alive(pid) else None

    def _clear_zombie_lock(self) -> None:
        """Remove postmaster.pid if it names a dead postmaster that nobody has reaped yet.

        pg_ctl detaches the postmaster, so after a crash (or :meth:`kill`) it is
        a zombie until PID 1 reaps it, and some inits (containers, microVMs) do
        that late or never. A new postmaster sees the zombie's pid as alive and
        refuses to start. A short wait usually suffices; only if the pid is still
        a zombie after it is the lock file removed (PostgreSQL then skips its
        check of the old shared-memory segment, which is harmless here).
        """
        assert self.data_dir is not None
        lock = self.data_dir / "postmaster.pid"
        try:
            pid = int(lock.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return
        deadline = time.monotonic() + 3.0
        while _zombie(pid):
            if time.monotonic() > deadline:
                lock.unlink(missing_ok=True)
                return
            time.sleep(0.1)

    def _wait_connectable(self, log: Path) -> None:
        # pg_ctl -w has already waited for "ready"; one real connection proves
        # the TCP listener and authentication work as the tests will use them.
        import psycopg

        deadline = time.monotonic() + self._start_timeout
        while True:
            try:
                with psycopg.connect(self.url(), connect_timeout=5) as connection:
                    connection.execute("SELECT 1")
                return
            except psycopg.OperationalError as exc:
                if time.monotonic() > deadline or not self.running:
                    raise ProvisioningError(
                        f"PostgreSQL at {self.url()} does not accept connections: {exc}\n" + tail([log])
                    ) from exc
                time.sleep(0.1)

    def _shutdown(self) -> None:
        """Stop the server cleanly if it runs; SIGKILL it if that fails. Keeps the data."""
        if self.running:
            assert self.data_dir is not None
            stopped = self._run(
                self._bin("pg_ctl"), "stop", "-D", str(self.data_dir), "-m", "fast", "-w",
                "-t", str(int(self._stop_timeout)), "-s",
            )  # fmt: skip
            if stopped.returncode != 0 and self.running:
                self.kill()
        self._forget_pid()

    def _forget_pid(self) -> None:
        if self._pid is not None and self._guard is not None:
            self._guard.forget(self._pid)
        self._pid = None

"""The benchmark: ``python -m common.devstack.bench [--orders N --concurrency C --rate R --duration D] [--json]``.

Runs the platform as production does (the Client API under gunicorn, 2 workers x 4 threads; the
three services' ``runconsumers`` as separate processes, at the CPU priority the one-machine platform
gives them, ``PALMETTO_WORKER_NICE`` 3 unless set; stage timings 0) on a Kafka broker and a
PostgreSQL cluster it provisions (or ``--kafka`` / ``--postgres`` given), over many customer
accounts, and measures, all in one run so that the figures compare on a shared machine:

1. a warm-up (orders not measured, in rounds until the broker's JIT compilers go quiet), then idle
   CPU of every process (no orders) over a few seconds;
2. closed loop: N orders at concurrency C, each worker placing its next order as soon as the
   last one was answered; then waits until every order is terminal in the Client App;
3. open loop: R orders/s for D seconds whatever the answers take (latency counted from when a
   request was due, so a slow server cannot hide its queue), after a few seconds of the same load
   not measured (the broker's JIT compiles other paths for orders one at a time); waits again;
4. raw ceilings on the same broker and database: Kafka produce and consume rate (500-byte
   messages, ``acks=1``, the platform's client library) and PostgreSQL commits/s (pgbench
   simple-update, 8 clients, or a Python equivalent when pgbench is missing);
5. the API-only ceiling: the closed loop again with the three ``runconsumers`` SIGSTOPped;
   then SIGCONT and wait for those orders too;
6. the fault suite's invariant checker (:mod:`.invariants`) over every order placed.

Latencies of the lifecycle and of each hop come from timestamps the Client App records (its
status history's ``recorded_at``); CPU and memory from ``/proc`` (:mod:`.procstat`). Progress
goes to stderr; the report to stdout (``--json`` for machines). Exit status 1 when an order
failed, did not finish, or an invariant is broken.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import math
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from common.deployment import NAMES
from common.devstack import procstat, stack
from common.lifecycle import TERMINAL
from common.priority import autogroup_nice, nice

ORDERS_TABLE, HISTORY_TABLE = "orders_order", "orders_orderstatuschange"


def percentile(values: list[float], p: float) -> float | None:
    """The ``p``-th percentile (nearest rank) of ``values``; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))]


def spread(values: list[float]) -> dict[str, float | None]:
    return {f"p{p}": percentile(values, p) for p in (50, 95, 99)} | {"max": max(values, default=None)}


# -- progress -----------------------------------------------------------------------------------


class Progress:
    """One status line on stderr, rewritten twice a second on a terminal (a line every 5 s otherwise)."""

    def __init__(self, quiet: bool = False) -> None:
        self.phase, self.fields = "starting", {}
        self._tty = sys.stderr.isatty()
        self._quiet = quiet
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._started = time.monotonic()
        self._thread.start()

    def set(self, phase: str, **fields: object) -> None:
        if phase != self.phase and not self._quiet:
            self._write(end="\n")
        self.phase, self.fields = phase, fields

    def update(self, **fields: object) -> None:
        self.fields = self.fields | fields

    def _write(self, end: str = "") -> None:
        text = " ".join(f"{k} {v}" for k, v in self.fields.items())
        line = f"[{time.monotonic() - self._started:6.1f}s] {self.phase}: {text}"
        sys.stderr.write(("\r\x1b[K" + line + end) if self._tty else line + "\n")
        sys.stderr.flush()

    def _run(self) -> None:
        while not self._stop.wait(0.5 if self._tty else 5):
            if not self._quiet:
                self._write()

    def close(self) -> None:
        self._stop.set()
        if not self._quiet:
            self._write(end="\n")


# -- load ---------------------------------------------------------------------------------------


@dataclass
class LoadResult:
    acknowledged: dict[str, str] = field(default_factory=dict)  # order id -> correlation id
    latencies: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    started: float = 0.0
    finished: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, status: int | str, latency: float, body: bytes) -> None:
        with self.lock:
            self.latencies.append(latency)
            if status == 201:
                order = json.loads(body)
                self.acknowledged[order["orderId"]] = order["correlationId"]
            else:
                self.errors[str(status)] = self.errors.get(str(status), 0) + 1

    @property
    def answered(self) -> int:
        return len(self.latencies)


def order_body(i: int, menu: list[dict]) -> bytes:
    from common.devstack.platform import order_request

    return json.dumps(order_request(i, menu)).encode()


# Warm-up rounds go on until the broker's JIT compiler threads used less than this share of one core
# in a round. Started fresh, the broker's C2 compiler is busy for a minute or more of load (20 % of a
# core after 500 orders, 2 % after about 5,000, on our 2-core VM): measured before then, the broker's
# CPU per order is largely compilation a long-running broker finished long ago.
WARM_JIT_PERCENT = 5.0
# How long the idle measurement waits at most for autovacuum to finish with the warm-up's rows.
MAINTENANCE_WAIT_S = 120.0

# A kept-alive connection idle longer than this is not reused (gunicorn's keep-alive timeout is 2 s).
IDLE_REUSE_S = 1.0


class Load:
    """Places orders over keep-alive HTTP connections, round-robin over customer tokens."""

    def __init__(self, api: str, tokens: list[str], menu: list[dict]) -> None:
        parts = urlsplit(api)
        self.host, self.port = parts.hostname, parts.port
        self.tokens, self.menu = tokens, menu
        self._numbers = itertools.count()
        self._local = threading.local()

    def _connection(self) -> http.client.HTTPConnection:
        """This thread's kept-alive connection; a fresh one after it sat idle for ``IDLE_REUSE_S``, because
        gunicorn closes a connection idle for 2 s and a request sent as it does fails (a broken pipe)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None and time.monotonic() - getattr(self._local, "used_at", 0.0) > IDLE_REUSE_S:
            conn.close()
            conn = None
        if conn is None:
            conn = self._local.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        return conn

    def place(self, result: LoadResult, due: float | None = None) -> None:
        i = next(self._numbers)
        body = order_body(i, self.menu)
        headers = {"Content-Type": "application/json", "Authorization": f"Token {self.tokens[i % len(self.tokens)]}"}
        started = time.monotonic() if due is None else due
        try:
            conn = self._connection()
            conn.request("POST", "/api/orders/", body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
            self._local.used_at = time.monotonic()
            result.record(response.status, time.monotonic() - started, data)
        except (OSError, http.client.HTTPException) as exc:
            self._local.conn = None
            result.record(type(exc).__name__, time.monotonic() - started, b"")

    def closed(self, count: int, concurrency: int, progress: Progress) -> LoadResult:
        """``count`` orders by ``concurrency`` workers, each placing its next as soon as it has an answer."""
        result = LoadResult(started=time.time())
        remaining = iter(range(count))
        lock = threading.Lock()

        def worker() -> None:
            while True:
                with lock:
                    if next(remaining, None) is None:
                        return
                self.place(result)

        threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            progress.update(answered=f"{result.answered}/{count}", errors=sum(result.errors.values()))
            time.sleep(0.2)
        result.finished = time.time()
        return result

    def open(self, rate: float, duration: float, progress: Progress, workers: int = 64) -> LoadResult:
        """``rate`` orders/s for ``duration`` s, each request due at its slot whether or not earlier ones answered."""
        result = LoadResult(started=time.time())
        due: queue.Queue[float | None] = queue.Queue()

        def worker() -> None:
            while (slot := due.get()) is not None:
                self.place(result, due=slot)

        threads = [threading.Thread(target=worker, daemon=True) for _ in range(workers)]
        for t in threads:
            t.start()
        start, total = time.monotonic(), int(rate * duration)
        for n in range(total):
            slot = start + n / rate
            time.sleep(max(0.0, slot - time.monotonic()))
            due.put(slot)
            if n % 10 == 0:
                progress.update(offered=f"{n}/{total}", answered=result.answered, errors=sum(result.errors.values()))
        for _ in threads:
            due.put(None)
        for t in threads:
            t.join()
        result.finished = time.time()
        return result


# -- what the services recorded -----------------------------------------------------------------


class ClientDatabase:
    """Reads the Client App's orders and status history (the timestamps the service recorded)."""

    def __init__(self, url: str) -> None:
        import psycopg

        self._conn = psycopg.connect(url, autocommit=True)

    def unfinished(self, order_ids: list[str]) -> int:
        (done,) = self._conn.execute(
            f"SELECT count(*) FROM {ORDERS_TABLE} WHERE id = ANY(%s::uuid[]) AND status = ANY(%s)",
            (order_ids, [s.value for s in TERMINAL]),
        ).fetchone()
        return len(order_ids) - done

    def histories(self, order_ids: list[str]) -> dict[str, list[tuple[str, float]]]:
        """Order id -> [(status, recorded_at as epoch seconds)] in sequence order."""
        rows = self._conn.execute(
            f"SELECT order_id::text, status, extract(epoch FROM recorded_at)::float8 FROM {HISTORY_TABLE} "
            "WHERE order_id = ANY(%s::uuid[]) AND kind = 'STATUS' ORDER BY order_id, sequence",
            (order_ids,),
        ).fetchall()
        found: dict[str, list[tuple[str, float]]] = {}
        for order_id, status, at in rows:
            found.setdefault(order_id, []).append((status, at))
        return found

    def maintenance_running(self) -> int:
        """Autovacuum workers busy anywhere in the cluster (the warm-up's rows being vacuumed and analysed)."""
        (busy,) = self._conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'"
        ).fetchone()
        return busy

    def checkpoint(self) -> bool:
        """Write the dirty buffers out now (what the checkpointer would spread over minutes); False when
        this role may not (a database of one's own, --postgres)."""
        import psycopg

        try:
            self._conn.execute("CHECKPOINT")
        except psycopg.errors.InsufficientPrivilege:
            return False
        return True

    def close(self) -> None:
        self._conn.close()


def vacuum_analyze(db_urls: dict[str, str]) -> bool:
    """``VACUUM (ANALYZE)`` each service's database now: what autovacuum would do with a burst of new rows
    over the next minutes (it starts when its launcher next visits a database, not when the rows are
    written). PostgreSQL skips, with a warning, tables this role may not vacuum (--postgres); False
    when a database refused the command."""
    import psycopg

    try:
        for url in db_urls.values():
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("VACUUM (ANALYZE)")
    except psycopg.Error:
        return False
    return True


def commits(db_urls: dict[str, str]) -> int:
    """Transactions committed so far in the services' databases (pg_stat_database)."""
    import psycopg

    total = 0
    for url in db_urls.values():
        with psycopg.connect(url, autocommit=True) as conn:
            (n,) = conn.execute(
                "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
            ).fetchone()
            total += n
    return total


def wait_finished(db: ClientDatabase, order_ids: list[str], progress: Progress, timeout: float) -> int:
    """Wait until every order is terminal; return how many are not when ``timeout`` runs out."""
    deadline = time.monotonic() + timeout
    while (left := db.unfinished(order_ids)) and time.monotonic() < deadline:
        progress.update(unfinished=left)
        time.sleep(0.25)
    return left


def lifecycle_figures(db: ClientDatabase, result: LoadResult) -> dict[str, object]:
    histories = db.histories(list(result.acknowledged))
    lifecycles, hops, first_placed, last_done = [], {}, math.inf, 0.0
    for entries in histories.values():
        placed, done = entries[0][1], entries[-1][1]
        first_placed, last_done = min(first_placed, placed), max(last_done, done)
        lifecycles.append(done - placed)
        for (before, t0), (after, t1) in itertools.pairwise(entries):
            hops.setdefault(f"{before} -> {after}", []).append(t1 - t0)
    span = last_done - first_placed if histories else 0.0
    return {
        "orders_per_s": len(histories) / span if span > 0 else None,
        "span_s": span,
        "lifecycle_s": spread(lifecycles),
        "hops_s": {name: spread(values) for name, values in hops.items()},
    }


# -- raw ceilings -------------------------------------------------------------------------------


def kafka_ceiling(bootstrap: str, messages: int) -> dict[str, float]:
    """Produce then consume ``messages`` 500-byte messages on a 3-partition scratch topic (acks=1)."""
    from confluent_kafka import Consumer, Producer, TopicPartition
    from confluent_kafka.admin import AdminClient, NewTopic

    topic = f"bench-ceiling-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, 3, 1)])[topic].result(30)
    try:
        producer = Producer({"bootstrap.servers": bootstrap, "acks": 1, "linger.ms": 5})
        value = os.urandom(250).hex().encode()
        started = time.monotonic()
        for i in range(messages):
            while True:
                try:
                    producer.produce(topic, value=value, key=str(i).encode())
                    break
                except BufferError:
                    producer.poll(0.01)
        producer.flush(60)
        produce_s = time.monotonic() - started
        consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": topic, "enable.auto.commit": False})
        consumer.assign([TopicPartition(topic, p, 0) for p in range(3)])
        got, started = 0, time.monotonic()
        while got < messages and time.monotonic() - started < 120:
            got += sum(1 for m in consumer.consume(10_000, timeout=1) if m.error() is None)
        consume_s = time.monotonic() - started
        consumer.close()
    finally:
        admin.delete_topics([topic])
    return {"produce_msgs_per_s": messages / produce_s, "consume_msgs_per_s": got / consume_s}


def postgres_ceiling(server_url: str, pgbench: str | None, seconds: float = 5) -> dict[str, object]:
    """Commits/s of single-row updates by 8 clients on a scratch database of the same server."""
    import psycopg

    name = f"bench_ceiling_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = urlunsplit(urlsplit(server_url)._replace(path=f"/{name}"))
    try:
        if pgbench:
            parts = urlsplit(url)
            args = ["-h", parts.hostname or "127.0.0.1", "-p", str(parts.port or 5432), "-U", parts.username or ""]
            env = os.environ | ({"PGPASSWORD": parts.password} if parts.password else {})
            subprocess.run([pgbench, "-i", "-q", "-s", "1", *args, name], env=env, check=True, capture_output=True)
            out = subprocess.run(
                [pgbench, "-N", "-c", "8", "-j", "2", "-T", str(int(seconds)), *args, name],
                env=env,
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            tps = float(re.search(r"tps = ([\d.]+)", out).group(1))
            return {"commits_per_s": tps, "tool": "pgbench simple-update, 8 clients"}
        return {"commits_per_s": _python_pgbench(url, seconds), "tool": "Python single-row updates, 8 clients"}
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _python_pgbench(url: str, seconds: float) -> float:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE accounts (id int PRIMARY KEY, balance bigint NOT NULL DEFAULT 0)")
        conn.execute("INSERT INTO accounts (id) SELECT generate_series(1, 100000)")
    count, lock = [0], threading.Lock()
    deadline = time.monotonic() + seconds

    def client(seed: int) -> None:
        n = 0
        with psycopg.connect(url, autocommit=True) as conn:
            while time.monotonic() < deadline:
                conn.execute(
                    "UPDATE accounts SET balance = balance + 1 WHERE id = %s", ((seed * 7919 + n) % 100000 + 1,)
                )
                n += 1
        with lock:
            count[0] += n

    threads = [threading.Thread(target=client, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return count[0] / seconds


# -- the run ------------------------------------------------------------------------------------


def create_customers(platform, count: int) -> list[str]:
    """``count`` customer accounts and their API tokens, created in one go in the Client App's database.

    (Registering through the API would spend most of the setup hashing passwords.)
    """
    script = (
        "import json\n"
        "from django.contrib.auth.hashers import make_password\n"
        "from django.contrib.auth.models import User\n"
        "from rest_framework.authtoken.models import Token\n"
        f"users = User.objects.bulk_create([User(username='bench-{uuid.uuid4().hex[:6]}-%d' % i, "
        f"password=make_password(None)) for i in range({count})])\n"
        "tokens = Token.objects.bulk_create([Token(user=u, key=Token.generate_key()) for u in users])\n"
        "print(json.dumps([t.key for t in tokens]))\n"
    )
    return json.loads(stack.manage("client", "shell", "-c", script, env=platform.env).stdout.strip().splitlines()[-1])


def fetch_menu(api: str) -> list[dict]:
    parts = urlsplit(api)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    conn.request("GET", "/api/menu/")
    return json.loads(conn.getresponse().read())


@dataclass
class Infrastructure:
    bootstrap: str
    server_url: str  # a PostgreSQL URL whose user may create databases
    database_factory: Callable[[str], str]
    broker_pids: list[int]
    postgres_pid: int | None
    pgbench: str | None


def provision(stack_: ExitStack, kafka: str | None, postgres: str | None, progress: Progress) -> Infrastructure:
    broker_pids: list[int] = []
    postgres_pid, pgbench = None, shutil.which("pgbench")
    if not kafka:
        from common.devstack.kafka_broker import KafkaBroker

        progress.set("starting a Kafka broker")
        broker = KafkaBroker()
        kafka = broker.start()
        stack_.callback(broker.stop)
        broker_pids = broker.pids
    if postgres:
        import psycopg

        def create(name: str) -> str:
            with psycopg.connect(postgres, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
            return urlunsplit(urlsplit(postgres)._replace(path=f"/{name}"))

        factory = create
    else:
        from common.devstack.postgres import PostgresCluster

        progress.set("starting PostgreSQL")
        cluster = PostgresCluster()
        cluster.start()
        stack_.callback(cluster.stop)
        postgres, factory, postgres_pid = cluster.url(), cluster.create_database, cluster.pid
        if Path(cluster.bin("pgbench")).exists():
            pgbench = cluster.bin("pgbench")
    return Infrastructure(kafka, postgres, factory, broker_pids, postgres_pid, pgbench)


def watched_processes(platform, infra: Infrastructure) -> procstat.Watched:
    roots = {"web (gunicorn)": platform.web.pid}
    roots |= {f"{service} runconsumers": platform.consumers[service].pid for service in NAMES}
    roots |= {f"kafka broker {i + 1}": pid for i, pid in enumerate(infra.broker_pids)}
    if infra.postgres_pid:
        roots["postgresql"] = infra.postgres_pid
    return procstat.Watched(roots)


class Sampler:
    """Samples every watched tree's memory once a second, for the peaks."""

    def __init__(self, watched: procstat.Watched) -> None:
        self.watched, self._stop = watched, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(1):
            self.watched.sample()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


def measure_run(
    name: str,
    run: Callable[[], LoadResult],
    *,
    platform,
    watched: procstat.Watched,
    db: ClientDatabase,
    progress: Progress,
    timeout: float,
    broker_pids: list[int],
) -> tuple[dict[str, object], LoadResult]:
    """Offer one load, wait until its orders finish, and gather its figures."""
    progress.set(name)
    cpu_before, commits_before, own_before = watched.cpu(), commits(platform.db_urls), time.process_time()
    jit = procstat.CompilerShare(broker_pids)
    result = run()
    progress.set(f"{name}: waiting for every order to finish", unfinished="?")
    unfinished = wait_finished(db, list(result.acknowledged), progress, timeout)
    cpu = procstat.delta(watched.cpu(), cpu_before)
    cpu["load generator (this process)"] = time.process_time() - own_before
    figures = lifecycle_figures(db, result)
    placed = len(result.acknowledged)
    span = figures["span_s"] or (result.finished - result.started)
    figures = {
        "offered": result.answered,
        "acknowledged": placed,
        "errors": result.errors,
        "unfinished": unfinished,
        "post_s": spread(result.latencies),
        "post_per_s": result.answered / (result.finished - result.started),
        **figures,
        "db_commits_per_s": (commits(platform.db_urls) - commits_before) / span if span else None,
        "cpu_s": cpu,
        "cpu_ms_per_order": {k: 1000 * v / placed for k, v in cpu.items()} if placed else {},
        # Part of the broker's figure: its JIT compiling what this load made hot (a warm-up's job; see run()).
        "broker_jit_percent_of_one_core": jit.percent(),
    }
    return figures, result


def run(args: argparse.Namespace) -> dict[str, object]:
    from common.devstack.invariants import Invariants
    from common.devstack.platform import running_platform

    progress = Progress(quiet=args.quiet)
    report: dict[str, object] = {"machine": machine(), "parameters": vars(args).copy()}
    everything: dict[str, str] = {}
    logs = Path(tempfile.mkdtemp(prefix="palmetto-bench-"))
    report["logs"] = str(logs)
    try:
        with ExitStack() as cleanup:
            infra = provision(cleanup, args.kafka, args.postgres, progress)
            progress.set("migrating and starting the platform")
            overrides = {
                "PALMETTO_ORDER_RATE": os.environ.get("PALMETTO_ORDER_RATE", "60/minute"),
                # As the one-machine platform runs them (python -m common.devstack).
                "PALMETTO_WORKER_NICE": os.environ.get("PALMETTO_WORKER_NICE", stack.COLOCATED_WORKER_NICE),
            }
            platform = cleanup.enter_context(running_platform(infra.bootstrap, infra.database_factory, logs, overrides))
            total = (args.orders + int(args.rate * (args.duration + args.open_warm_up)) + args.api_orders
                     + args.warm_up * args.warm_up_rounds)
            # The production throttle (60 orders a minute per customer) holds: spread orders over enough accounts.
            tokens = create_customers(platform, max(args.customers, math.ceil(total / 50) + args.concurrency))
            report["customers"] = len(tokens)
            load = Load(platform.api, tokens, fetch_menu(platform.api))
            db = ClientDatabase(platform.db_urls["client"])
            cleanup.callback(db.close)
            watched = watched_processes(platform, infra)
            sampler = Sampler(watched)
            cleanup.callback(sampler.close)
            measure = {
                "platform": platform,
                "watched": watched,
                "db": db,
                "progress": progress,
                "timeout": args.finish_timeout,
                "broker_pids": infra.broker_pids,
            }

            # Warmed up as a platform that has been serving for a while: the broker's JIT compiled its hot
            # paths, PostgreSQL's caches hold the tables; otherwise the first figures measure start-up.
            report["warm_up"] = warm_up = {"orders": 0, "broker_jit_percent_of_one_core": None}
            for _ in range(args.warm_up_rounds):
                jit = procstat.CompilerShare(infra.broker_pids)
                # Not measure_run: nothing about these orders is reported, so their histories are not read.
                progress.set("warm-up")
                result = load.closed(args.warm_up, args.concurrency, progress)
                progress.set("warm-up: waiting for every order to finish", unfinished="?")
                wait_finished(db, list(result.acknowledged), progress, args.finish_timeout)
                everything |= result.acknowledged
                warm_up["orders"] += args.warm_up
                if not infra.broker_pids:
                    break  # a broker of its own (--kafka): nothing to watch
                warm_up["broker_jit_percent_of_one_core"] = jit.percent()
                if warm_up["broker_jit_percent_of_one_core"] < WARM_JIT_PERCENT:
                    break
            progress.set("idle: waiting for PostgreSQL's autovacuum of the warm-up's rows")
            time.sleep(2)  # let the last relay and timer rounds of the warm-up pass
            # Idle means no orders and nothing left over from them: what the idle figure is after is a
            # worker or the broker that polls, not PostgreSQL vacuuming the warm-up's rows or writing
            # them back (the checkpointer spreads that over minutes; a CHECKPOINT does it now). Bounded:
            # autovacuum that never ends shows in the figure.
            waited = time.monotonic()
            while db.maintenance_running() and time.monotonic() - waited < MAINTENANCE_WAIT_S:
                time.sleep(1)
            report["idle_waited_for_autovacuum_s"] = round(time.monotonic() - waited, 1)
            # Autovacuum not running now does not mean it is done: after the warm-up it went on to vacuum
            # the inbox, outbox and delivery tables during the idle window (seen in pg_stat_activity).
            report["idle_after_vacuum"] = vacuum_analyze(platform.db_urls)
            report["idle_after_checkpoint"] = db.checkpoint()
            progress.set("idle", seconds=args.idle_seconds)
            before, jit = watched.cpu(), procstat.CompilerShare(infra.broker_pids)
            time.sleep(args.idle_seconds)
            idle = procstat.delta(watched.cpu(), before)
            report["idle_cpu_percent_of_one_core"] = {k: 100 * v / args.idle_seconds for k, v in idle.items()}
            report["idle_cpu_percent_of_one_core"]["total"] = 100 * sum(idle.values()) / args.idle_seconds
            # Included in the figures above, and shown apart: the broker's JIT still compiling what the warm-up
            # made hot is not polling, and it fades as the broker keeps running (see the README).
            report["idle_broker_jit_percent_of_one_core"] = jit.percent()

            if args.orders:
                closed, result = measure_run(
                    "closed loop", lambda: load.closed(args.orders, args.concurrency, progress), **measure
                )
                everything |= result.acknowledged
                report["closed_loop"] = closed
            if args.rate and args.duration:
                if args.open_warm_up:
                    # Orders one at a time take other paths through the broker than the closed loop's
                    # batches: without this its JIT compiled them during the open loop (10 to 12 % of a
                    # core in two runs, against 6 and 11 % with it; see the README).
                    progress.set("open loop warm-up")
                    result = load.open(args.rate, args.open_warm_up, progress)
                    wait_finished(db, list(result.acknowledged), progress, args.finish_timeout)
                    everything |= result.acknowledged
                    report["warm_up"]["open_loop_orders"] = len(result.acknowledged)
                opened, result = measure_run(
                    "open loop", lambda: load.open(args.rate, args.duration, progress), **measure
                )
                everything |= result.acknowledged
                report["open_loop"] = opened

            progress.set("ceilings: Kafka")
            ceilings: dict[str, object] = kafka_ceiling(infra.bootstrap, args.ceiling_messages)
            progress.set("ceilings: PostgreSQL")
            ceilings |= postgres_ceiling(infra.server_url, infra.pgbench)
            if args.api_orders:
                progress.set("ceilings: API only (runconsumers stopped)")
                for process in platform.consumers.values():
                    os.kill(process.pid, signal.SIGSTOP)
                try:
                    api = load.closed(args.api_orders, args.concurrency, progress)
                finally:
                    for process in platform.consumers.values():
                        os.kill(process.pid, signal.SIGCONT)
                everything |= api.acknowledged
                ceilings["api_only"] = {
                    "orders_per_s": api.answered / (api.finished - api.started),
                    "post_s": spread(api.latencies),
                    "errors": api.errors,
                }
                progress.set("API-only orders: waiting for them to finish")
                wait_finished(db, list(api.acknowledged), progress, args.finish_timeout)
            report["ceilings"] = ceilings
            report["ratios"] = ratios(report)

            progress.set("invariant checker", orders=len(everything))
            try:
                checked = Invariants(platform).check(everything, settle_timeout=args.finish_timeout)
                report["invariants"] = {"passed": True, "figures": checked.figures}
            except AssertionError as exc:
                report["invariants"] = {"passed": False, "problems": str(exc)}
            report["peak_memory_mb"] = {k: v / 2**20 for k, v in watched.peak.items()}
            report["cpu_priority"] = {
                name: {"nice": nice(pid), "autogroup_nice": autogroup_nice(pid)}
                for name, pid in watched.roots.items()
            }
            progress.set("stopping")
    finally:
        progress.close()
    report["ok"] = bool(report.get("invariants", {}).get("passed")) and not any(
        report.get(k, {}).get("errors") or report.get(k, {}).get("unfinished") for k in ("closed_loop", "open_loop")
    )
    if report["ok"]:
        shutil.rmtree(logs, ignore_errors=True)
    return report


# Messages each order puts on Kafka (OrderPlaced and five status changes) and takes off it (the
# kitchen reads one, the client and the courier each read five).
MESSAGES_PRODUCED_PER_ORDER, MESSAGES_CONSUMED_PER_ORDER = 6, 11


def ratios(report: dict) -> dict[str, float]:
    closed, ceilings = report.get("closed_loop"), report["ceilings"]
    if not closed or not closed.get("orders_per_s"):
        return {}
    rate = closed["orders_per_s"]
    found = {
        "kafka_produced_of_ceiling": rate * MESSAGES_PRODUCED_PER_ORDER / ceilings["produce_msgs_per_s"],
        "kafka_consumed_of_ceiling": rate * MESSAGES_CONSUMED_PER_ORDER / ceilings["consume_msgs_per_s"],
        "db_commits_of_ceiling": (closed["db_commits_per_s"] or 0) / ceilings["commits_per_s"],
    }
    if "api_only" in ceilings:
        found["end_to_end_of_api_only"] = rate / ceilings["api_only"]["orders_per_s"]
    return found


def machine() -> dict[str, object]:
    info: dict[str, object] = {"cpus": os.cpu_count(), "load_average_at_start": os.getloadavg()}
    try:
        models = [ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name")]
        info["cpu"] = models[0] if models else "unknown"
        info["memory_gb"] = round(int(open("/proc/meminfo").readline().split()[1]) / 2**20, 1)
    except OSError:
        pass
    return info


# -- the report ---------------------------------------------------------------------------------


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{1000 * value:.0f} ms"


def render(report: dict) -> str:
    lines = [
        f"Palmetto benchmark on {report['machine'].get('cpu', '?')} x{report['machine']['cpus']} "
        f"(load average at start {report['machine']['load_average_at_start'][0]:.2f})"
    ]
    warm_up = report.get("warm_up")
    if warm_up:
        jit = warm_up["broker_jit_percent_of_one_core"]
        then = warm_up.get("open_loop_orders")
        lines.append(f"Warm-up: {warm_up['orders']} orders" + (
            f" (the broker's JIT compilers at {jit:.1f} % of a core in the last round)" if jit is not None else "")
            + (f", then {then} at the open loop's rate" if then is not None else ""))
    for key, title in (("closed_loop", "Closed loop"), ("open_loop", "Open loop")):
        run_ = report.get(key)
        if not run_:
            continue
        p = report["parameters"]
        what = (
            f"{p['orders']} orders at concurrency {p['concurrency']}"
            if key == "closed_loop"
            else f"{p['rate']} orders/s offered for {p['duration']} s"
        )
        rate = run_["orders_per_s"]
        lines += [
            "",
            f"{title}: {what}",
            f"  end to end          {rate:.1f} orders/s" if rate else "  end to end          -",
            f"  acknowledged        {run_['acknowledged']} (errors {run_['errors'] or 'none'}, "
            f"unfinished {run_['unfinished']})",
            "  POST latency        " + "  ".join(f"{k} {_ms(v)}" for k, v in run_["post_s"].items()),
            "  lifecycle           " + "  ".join(f"{k} {_ms(v)}" for k, v in run_["lifecycle_s"].items()),
        ]
        for hop, values in run_["hops_s"].items():
            lines.append(f"    {hop:<40}" + "  ".join(f"{k} {_ms(v)}" for k, v in values.items() if k != "max"))
        lines.append(
            "  CPU per order       " + ", ".join(f"{k} {v:.1f} ms" for k, v in run_["cpu_ms_per_order"].items())
        )
        lines.append(f"  database commits    {run_['db_commits_per_s']:.0f}/s")
        if run_.get("broker_jit_percent_of_one_core") is not None:
            jit = run_["broker_jit_percent_of_one_core"]
            lines.append(f"  broker's JIT        {jit:.1f} % of a core (included in the broker's CPU)")
    c = report.get("ceilings", {})
    if c:
        lines += [
            "",
            "Ceilings (same run, same broker and database)",
            f"  Kafka produce       {c['produce_msgs_per_s']:,.0f} msg/s (500 bytes, acks=1)",
            f"  Kafka consume       {c['consume_msgs_per_s']:,.0f} msg/s",
            f"  PostgreSQL          {c['commits_per_s']:,.0f} commits/s ({c['tool']})",
        ]
        if "api_only" in c:
            a = c["api_only"]
            lines.append(
                f"  API only            {a['orders_per_s']:.1f} orders/s, POST "
                + "  ".join(f"{k} {_ms(v)}" for k, v in a["post_s"].items())
            )
    if report.get("ratios"):
        lines += ["", "Ratios (closed loop / ceiling)"] + [f"  {k:<30}{v:.3f}" for k, v in report["ratios"].items()]
    if "idle_cpu_percent_of_one_core" in report:
        waited = report.get("idle_waited_for_autovacuum_s")
        after = [f"{waited:.0f} s for autovacuum"] if waited else []
        after += ["a VACUUM ANALYZE"] if report.get("idle_after_vacuum") else []
        after += ["a CHECKPOINT"] if report.get("idle_after_checkpoint") else []
        lines += ["", "Idle CPU (% of one core)" + (f", after {' and '.join(after)}" if after else "")] + [
            f"  {k:<30}{v:.1f} %" for k, v in report["idle_cpu_percent_of_one_core"].items()
        ]
        jit = report.get("idle_broker_jit_percent_of_one_core")
        if jit is not None:
            lines.append(f"  (of which the broker's JIT compilers {jit:.1f} %)")
    if "cpu_priority" in report:
        lines += ["", "CPU priority (nice; its autogroup's nice, see common/priority.py)"] + [
            f"  {k:<30}{v['nice']}; {'-' if v['autogroup_nice'] is None else v['autogroup_nice']}"
            for k, v in report["cpu_priority"].items()
        ]
    if "peak_memory_mb" in report:
        lines += ["", "Peak memory (PSS)"] + [f"  {k:<30}{v:.0f} MB" for k, v in report["peak_memory_mb"].items()]
    inv = report.get("invariants", {})
    lines += [
        "",
        "Invariants: "
        + (
            "passed " + json.dumps(inv.get("figures", {}))
            if inv.get("passed")
            else f"FAILED\n{inv.get('problems', 'not run')}"
        ),
    ]
    if not report.get("ok"):
        lines.append(f"Logs kept in {report['logs']}")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m common.devstack.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=3000, help="closed loop: orders to place (0 skips it)")
    parser.add_argument("--concurrency", type=int, default=32, help="closed loop: requests in flight")
    parser.add_argument("--rate", type=float, default=50, help="open loop: orders per second (0 skips it)")
    parser.add_argument("--duration", type=float, default=20, help="open loop: seconds")
    parser.add_argument(
        "--api-orders",
        type=int,
        default=1000,
        help="API-only ceiling: orders placed with the runconsumers paused (0 skips it)",
    )
    parser.add_argument("--warm-up", type=int, default=500, help="orders per warm-up round (placed, not measured)")
    parser.add_argument(
        "--warm-up-rounds", type=int, default=10,
        help=f"at most this many warm-up rounds; they stop once the broker's JIT compilers used under "
             f"{WARM_JIT_PERCENT:g} %% of a core in one",
    )
    parser.add_argument(
        "--open-warm-up", type=float, default=10,
        help="open loop: seconds at --rate, not measured, right before it (0: none)",
    )
    parser.add_argument("--customers", type=int, default=100, help="at least this many customer accounts")
    parser.add_argument("--ceiling-messages", type=int, default=200_000, help="messages for the Kafka ceiling")
    parser.add_argument("--idle-seconds", type=float, default=15,
                        help="how long idle CPU is measured (long enough to hold the slow safety-net polls)")
    parser.add_argument("--finish-timeout", type=float, default=300, help="seconds to wait for orders to finish")
    parser.add_argument(
        "--kafka",
        default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS"),
        help="an existing broker (default: KAFKA_BOOTSTRAP_SERVERS, else one is provisioned)",
    )
    parser.add_argument(
        "--postgres", help="a PostgreSQL server URL whose user may create databases (default: a cluster is provisioned)"
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--quiet", action="store_true", help="no progress display")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "common.devstack.settings")
    # The platform runs with DEBUG off, as in production, so it needs a secret key: the stack's, kept in
    # var/stack, unless one is configured.
    from common.devstack.stack import ensure_secret_key

    ensure_secret_key(os.environ)  # type: ignore[arg-type]
    import django

    django.setup()
    report = run(args)
    print(json.dumps(report, indent=2, default=str) if args.json else render(report))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())

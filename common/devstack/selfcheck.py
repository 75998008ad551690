"""Prove by hand that the project can provision a real Kafka broker and a real PostgreSQL.

Not a pytest module (it has no tests to collect); run it directly:

    python -m common.devstack.selfcheck [--nodes 3] [--no-faults]

It fetches the Kafka jars (first run only), starts a broker and a PostgreSQL
cluster, round-trips one message through a 3-partition topic and a query
through a fresh database, crashes and restarts both (unless --no-faults),
stops both, and checks that no process it started is left behind.
Prints timings; exits non-zero on any failure.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from pathlib import Path

import psycopg
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from common.devstack.kafka_broker import KAFKA_VERSION, KafkaBroker, cache_dir, ensure_kafka_jars
from common.devstack.postgres import PostgresCluster


def timed(label: str, timings: dict[str, float], action):  # type: ignore[no-untyped-def]
    started = time.monotonic()
    result = action()
    timings[label] = time.monotonic() - started
    print(f"  {label:<22} {timings[label]:6.2f} s", flush=True)
    return result


def live_pids(match) -> set[int]:  # type: ignore[no-untyped-def]
    """Pids of live (non-zombie) processes for which ``match(pid, ppid, cmdline)`` holds."""
    found = set()
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            state, ppid = (proc / "stat").read_text().rpartition(")")[2].split()[:2]
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, ValueError):
            continue
        if state != "Z" and match(int(proc.name), int(ppid), cmdline):
            found.add(int(proc.name))
    return found


def postgres_pids(postgres: PostgresCluster) -> set[int]:
    """The postmaster (from its lock file) and its server processes."""
    postmaster = int((postgres.data_dir / "postmaster.pid").read_text().split()[0])  # type: ignore[operator]
    return live_pids(lambda pid, ppid, cmd: postmaster in (pid, ppid))


def kafka_round_trip(bootstrap: str, topic: str, create: bool, replicas: int) -> float:
    """Create ``topic`` (3 partitions) if asked, produce one message and consume it back; return seconds taken."""
    started = time.monotonic()
    if create:
        admin = AdminClient({"bootstrap.servers": bootstrap})
        admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=replicas)])[topic].result(30)
        # Metadata reaches each broker a little after creation: wait for all 3 leaders.
        deadline = time.monotonic() + 30
        while True:
            partitions = admin.list_topics(topic, timeout=10).topics[topic].partitions
            if len(partitions) == 3 and all(p.leader >= 0 for p in partitions.values()):
                break
            assert time.monotonic() < deadline, f"topic {topic} has no 3 led partitions: {partitions}"
            time.sleep(0.1)
    value = uuid.uuid4().hex.encode()
    producer = Producer({"bootstrap.servers": bootstrap, "acks": 1, "message.timeout.ms": 30000})
    errors: list[object] = []
    producer.produce(topic, key=b"order-1", value=value, on_delivery=lambda err, msg: errors.append(err))
    assert producer.flush(30) == 0, "message still queued after 30 s"
    assert errors == [None], errors
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"selfcheck-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    # Pinned partitions with a group id, as the services consume (DESIGN: assign(), not subscribe()).
    consumer.assign([TopicPartition(topic, partition) for partition in range(3)])
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline:
            message = consumer.poll(1.0)
            if message is None:
                continue
            if message.error():
                raise KafkaException(message.error())
            if message.value() == value:
                consumer.commit(message=message, asynchronous=False)
                return time.monotonic() - started
        raise AssertionError(f"did not consume the message from {topic} within 30 s")
    finally:
        consumer.close()


def select_one(url: str) -> None:
    with psycopg.connect(url, connect_timeout=10) as connection:
        assert connection.execute("SELECT 1").fetchone() == (1,)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=1, help="Kafka nodes (1 or 3)")
    parser.add_argument("--no-faults", action="store_true", help="skip the kill/restart checks")
    args = parser.parse_args()

    timings: dict[str, float] = {}
    print(f"Kafka {KAFKA_VERSION}, {args.nodes} node(s); cache: {cache_dir()}", flush=True)
    libs = timed("jar fetch", timings, ensure_kafka_jars)
    print(f"  jars: {libs} ({len(list(libs.glob('*.jar')))} files)")

    broker = KafkaBroker(nodes=args.nodes)
    postgres = PostgresCluster()
    kafka_pids: set[int] = set()
    pg_pids: set[int] = set()
    try:
        bootstrap = timed("broker start", timings, broker.start)
        print(f"  bootstrap: {bootstrap}  work dir: {broker.work_dir}")
        timed("pg start", timings, postgres.start)
        print(f"  postgres: {postgres.url()}  work dir: {postgres.work_dir}")
        work_dirs = [broker.work_dir, postgres.work_dir]

        kafka_pids = live_pids(lambda pid, ppid, cmd: str(broker.work_dir) in cmd and "kafka.Kafka" in cmd)
        assert len(kafka_pids) == args.nodes, kafka_pids

        topic = f"selfcheck.{uuid.uuid4().hex[:8]}"
        timings["kafka round trip"] = kafka_round_trip(bootstrap, topic, create=True, replicas=args.nodes)
        print(f"  {'kafka round trip':<22} {timings['kafka round trip']:6.2f} s")
        url = timed("create database", timings, lambda: postgres.create_database("selfcheck"))
        timed("select 1", timings, lambda: select_one(url))
        assert postgres.create_database("selfcheck") == url  # idempotent
        pg_pids = postgres_pids(postgres)

        if not args.no_faults:
            # A crash then a restart: same address, data kept, clients just reconnect.
            victim = args.nodes  # in a 3-node cluster, kill one node only
            timed("broker kill", timings, lambda: broker.kill(victim if args.nodes > 1 else None))
            timed("broker restart", timings, lambda: broker.restart(victim if args.nodes > 1 else None))
            timings["round trip after"] = kafka_round_trip(bootstrap, topic, create=False, replicas=args.nodes)
            print(f"  {'round trip after':<22} {timings['round trip after']:6.2f} s")
            kafka_pids |= live_pids(lambda pid, ppid, cmd: str(broker.work_dir) in cmd and "kafka.Kafka" in cmd)
            timed("pg kill", timings, postgres.kill)
            timed("pg restart", timings, postgres.restart)
            select_one(url)
            pg_pids |= postgres_pids(postgres)
    finally:
        timed("broker stop", timings, broker.stop)
        timed("pg stop", timings, postgres.stop)

    leftovers = live_pids(lambda pid, ppid, cmd: pid in kafka_pids | pg_pids)
    children = live_pids(lambda pid, ppid, cmd: ppid == os.getpid())  # e.g. the orphan guards
    left_dirs = [d for d in work_dirs if d is not None and d.exists()]
    print(f"  processes started: {len(kafka_pids)} java, {len(pg_pids)} postgres")
    if leftovers or children or left_dirs:
        print(f"FAIL: still alive: {sorted(leftovers | children)}; dirs left: {left_dirs}")
        return 1
    print("OK: no java/postgres process or work dir left behind")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Topic administration: create the platform's topics explicitly and check them."""

from __future__ import annotations

import time
from dataclasses import dataclass

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from common.kafka.settings import base
from common.topics import PARTITIONS, all_topic_names


class TopicMismatch(RuntimeError):
    """A topic exists with a partition count the platform cannot work with."""


@dataclass(frozen=True)
class TopicState:
    name: str
    partitions: int
    created: bool


def admin_client(bootstrap_servers: str) -> AdminClient:
    return AdminClient(base(bootstrap_servers, "palmetto-admin"))


def ensure_topics(
    bootstrap_servers: str, prefix: str, *, replication_factor: int = 1, timeout: float = 30
) -> list[TopicState]:
    """Create every platform topic that is missing, with 3 partitions; safe to run again.

    Raises :class:`TopicMismatch` when a topic exists with a different number
    of partitions (per-order ordering depends on a fixed partition count), and
    ``KafkaException`` when the broker cannot be reached.
    """
    admin = admin_client(bootstrap_servers)
    wanted = all_topic_names(prefix)
    existing = admin.list_topics(timeout=timeout).topics
    missing = [n for n in wanted if n not in existing]
    created: set[str] = set()
    if missing:
        futures = admin.create_topics(
            [NewTopic(n, num_partitions=PARTITIONS, replication_factor=replication_factor) for n in missing],
            request_timeout=timeout,
        )
        for name, future in futures.items():
            try:
                future.result()
                created.add(name)
            except KafkaException as exc:
                # Another process created it between our listing and our request: fine.
                if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise
    return [
        TopicState(name, partitions, name in created)
        for name, partitions in describe_partitions(bootstrap_servers, wanted, timeout=timeout).items()
    ]


def describe_partitions(bootstrap_servers: str, names: list[str], *, timeout: float = 30) -> dict[str, int]:
    """Partition count of each named topic; raises :class:`TopicMismatch` if one is missing or not 3."""
    admin = admin_client(bootstrap_servers)
    deadline = time.monotonic() + timeout
    while True:
        topics = admin.list_topics(timeout=timeout).topics
        # A just-created topic takes a moment to show up in metadata and to elect its leaders.
        unready = [n for n in names if n not in topics or any(p.leader < 0 for p in topics[n].partitions.values())]
        if not unready or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    counts: dict[str, int] = {}
    for name in names:
        meta = topics.get(name)
        if meta is None:
            raise TopicMismatch(f"topic {name} does not exist")
        counts[name] = len(meta.partitions)
        if counts[name] != PARTITIONS:
            raise TopicMismatch(f"topic {name} has {counts[name]} partitions; Palmetto needs exactly {PARTITIONS}")
    return counts


def broker_problem(bootstrap_servers: str, timeout: float = 3.0) -> str | None:
    """None when the cluster answers a metadata request within ``timeout`` seconds, else what went wrong."""
    try:
        admin_client(bootstrap_servers).list_topics(timeout=timeout)
        return None
    except KafkaException as exc:
        return f"Kafka at {bootstrap_servers} did not answer: {exc.args[0].str() if exc.args else exc}"

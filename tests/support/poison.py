"""Poison messages a fault scenario injects, and how it injects them (the checker expects exactly these)."""

from __future__ import annotations

import json
import uuid

from common.devstack.invariants import Poison
from common.devstack.kafka_tools import produce_raw
from common.events import encode
from common.lifecycle import Status
from common.topics import NOTIFICATIONS, ORDERS
from tests.support.factories import order_placed, status_changed


def _example(topic) -> dict:
    envelope = order_placed() if topic is ORDERS else status_changed(uuid.uuid4(), "c-1", Status.ACCEPTED, 1)
    return json.loads(encode(envelope)[1])


def poison_for(topic) -> list[Poison]:
    """Not JSON; unknown event type; unknown version; valid JSON that breaks the schema; negative quantity."""
    unknown_type, unknown_version, broken, negative = (_example(topic) for _ in range(4))
    unknown_type["event_type"] = "PizzaThrown"
    unknown_version["version"] = 99
    broken["payload"] = {"status": 42} if topic is NOTIFICATIONS else {"items": "many"}
    if topic is ORDERS:
        negative["payload"]["items"][0]["quantity"] = -2
    else:
        negative["payload"]["sequence"] = -1
    values = [
        b"\x00\x9f definitely not json",
        *(json.dumps(v).encode() for v in (unknown_type, unknown_version, broken, negative)),
    ]
    return [Poison(topic, f"poison-{topic.name}-{i}".encode(), value) for i, value in enumerate(values)]


def inject(platform, poison: list[Poison], headers: list[tuple[str, bytes]] | None = None) -> None:
    """Write each poison message straight to its topic as a third-party client would, spread over the partitions."""
    for i, p in enumerate(poison):
        produce_raw(
            platform.bootstrap, p.topic.full_name(platform.prefix), p.value, key=p.key, partition=i % 3, headers=headers
        )

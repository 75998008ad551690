"""The Kafka topics, as data.

Each :class:`Topic` records what it carries, who produces it and who consumes
it; the README's topic table, ``createtopics`` and the services' consumer
declarations are all checked against this one list.
"""

from __future__ import annotations

from dataclasses import dataclass

from common.deployment import CLIENT, COURIER, PALMETTO

PARTITIONS = 3
DLT_SUFFIX = ".DLT"


@dataclass(frozen=True)
class Topic:
    """A logical topic; its real name is ``<prefix><name>``."""

    name: str
    carries: str
    producers: tuple[str, ...]
    consumers: tuple[str, ...]
    partitions: int = PARTITIONS

    def full_name(self, prefix: str) -> str:
        return f"{prefix}{self.name}"

    def dlt_name(self, prefix: str) -> str:
        """Where consumers of this topic park messages that can never be processed."""
        return f"{prefix}{self.name}{DLT_SUFFIX}"


ORDERS = Topic(
    name="orders",
    carries="OrderPlaced, CancellationRequested: what customers ask of the kitchen; "
    "PaymentCharged, PaymentDeclined, PaymentRefunded: the payment step of each order",
    producers=(CLIENT.name,),
    # The Client App reads its own OrderPlaced to decide card payments as a step of the flow.
    consumers=(PALMETTO.name, CLIENT.name),
)

NOTIFICATIONS = Topic(
    name="notifications",
    carries="OrderStatusChanged (every status change after PLACED), CancellationDeclined, CashCollected",
    producers=(PALMETTO.name, COURIER.name),
    consumers=(CLIENT.name, COURIER.name),
)

TOPICS: tuple[Topic, ...] = (ORDERS, NOTIFICATIONS)


def all_topic_names(prefix: str) -> list[str]:
    """Every topic the platform needs, dead-letter topics included."""
    names: list[str] = []
    for topic in TOPICS:
        names += [topic.full_name(prefix), topic.dlt_name(prefix)]
    return names


def consumer_group(prefix: str, service: str) -> str:
    """One consumer group per service, so Kafka's tools show each service's committed offsets."""
    return f"{prefix}palmetto-{service}"

"""Least privilege on Kafka, as data derived from the topic table: who may do what to which resource.

Each service logs in as its own principal, ``<prefix>palmetto-<service>``
(the name of its consumer group), and may

* write the topics the topic table says it produces;
* read the topics it consumes, write their dead-letter topics, and use its
  own consumer group;
* read (never commit to) throwaway ``palmetto-readonly-*`` groups when it
  inspects topics: the Client App's staff endpoint reads every topic.

Operators log in as ``<prefix>palmetto-operator``: they create and describe
topics, read them and the dead-letter topics, replay dead letters (write),
and read every service group's committed offsets. Nothing else is allowed:
the broker's authorizer denies what no grant names.

:func:`policy` is pure data (the README's table is checked against it);
:func:`acl_bindings` turns it into ``confluent_kafka`` ACL bindings for
``manage.py kafkasecurity``.
"""

from __future__ import annotations

from dataclasses import dataclass

from confluent_kafka.admin import AclBinding, AclOperation, AclPermissionType, ResourcePatternType, ResourceType

from common.deployment import NAMES
from common.kafka.readonly import READONLY_GROUP_PREFIX
from common.topics import TOPICS, consumer_group

OPERATOR = "operator"
PRINCIPALS: tuple[str, ...] = (*NAMES, OPERATOR)


def principal_name(prefix: str, principal: str) -> str:
    """The SCRAM user name of ``principal`` (a service name or ``operator``): ``<prefix>palmetto-<principal>``."""
    return consumer_group(prefix, principal)


@dataclass(frozen=True)
class Grant:
    """``principal`` may do ``operations`` on the ``kind`` resource ``name`` (``prefixed``: every name starting so).

    ``name`` is the logical name: topic names without the prefix, ``group:<service>`` for a service's
    consumer group; :meth:`resource` resolves it for a prefix.
    """

    principal: str
    kind: str  # "topic" | "group"
    name: str
    operations: tuple[str, ...]
    prefixed: bool = False

    def resource(self, prefix: str) -> tuple[str, ResourcePatternType]:
        if self.kind == "group" and self.name.startswith("group:"):
            return consumer_group(prefix, self.name.removeprefix("group:")), ResourcePatternType.LITERAL
        if self.kind == "group":  # a group prefix shared by every deployment (throwaway read-only groups)
            return self.name, ResourcePatternType.PREFIXED
        if self.prefixed:
            # Kafka has no empty prefix: without a topic prefix, "every topic" is the wildcard.
            return (prefix, ResourcePatternType.PREFIXED) if prefix else ("*", ResourcePatternType.LITERAL)
        return f"{prefix}{self.name}", ResourcePatternType.LITERAL


def policy() -> list[Grant]:
    """Every grant of the platform, derived from ``common.topics.TOPICS``."""
    grants: list[Grant] = []
    for topic in TOPICS:
        for service in topic.producers:
            grants.append(Grant(service, "topic", topic.name, ("WRITE", "DESCRIBE")))
        for service in topic.consumers:
            grants.append(Grant(service, "topic", topic.name, ("READ", "DESCRIBE")))
            grants.append(Grant(service, "topic", topic.name + ".DLT", ("WRITE", "DESCRIBE")))
    for service in NAMES:
        grants.append(Grant(service, "group", f"group:{service}", ("READ", "DESCRIBE")))
    # The Client App's staff endpoint (GET /api/topics/{topic}/order-ids/) reads every topic; reading is all.
    readable = {g.name for g in grants if g.principal == "client" and "READ" in g.operations}
    for topic in TOPICS:
        for name in (topic.name, topic.name + ".DLT"):
            if name not in readable:
                grants.append(Grant("client", "topic", name, ("READ", "DESCRIBE")))
    for principal in ("client", OPERATOR):
        grants.append(Grant(principal, "group", READONLY_GROUP_PREFIX, ("READ", "DESCRIBE")))
    grants.append(
        Grant(OPERATOR, "topic", "*", ("CREATE", "DESCRIBE", "DESCRIBE_CONFIGS", "READ", "WRITE"), prefixed=True)
    )
    grants.extend(Grant(OPERATOR, "group", f"group:{service}", ("DESCRIBE",)) for service in NAMES)
    return grants


def acl_bindings(prefix: str, grants: list[Grant] | None = None) -> list[AclBinding]:
    """ALLOW bindings for ``grants`` (default: :func:`policy`) on a cluster whose topics have ``prefix``."""
    bindings: dict[tuple[object, ...], AclBinding] = {}  # a grant derived twice is one binding
    for grant in policy() if grants is None else grants:
        name, pattern = grant.resource(prefix)
        kind = ResourceType.TOPIC if grant.kind == "topic" else ResourceType.GROUP
        principal = f"User:{principal_name(prefix, grant.principal)}"
        for operation in grant.operations:
            bindings[(kind, name, pattern, principal, operation)] = AclBinding(
                kind, name, pattern, principal, "*", AclOperation[operation], AclPermissionType.ALLOW
            )
    return list(bindings.values())

"""Least privilege as data: each service's Kafka rights follow from the topic table, nothing more."""

from __future__ import annotations

from confluent_kafka.admin import AclOperation, ResourcePatternType, ResourceType

from common.kafka.acl import acl_bindings, policy, principal_name
from common.topics import NOTIFICATIONS, ORDERS


def rights(prefix: str = "") -> set[tuple[str, str, str]]:
    """(principal, topic, operation) for every topic grant."""
    return {
        (b.principal.removeprefix("User:"), b.name, b.operation.name)
        for b in acl_bindings(prefix)
        if b.restype == ResourceType.TOPIC
    }


def test_only_the_client_app_writes_orders_and_only_kitchen_and_courier_write_notifications():
    granted = rights()
    assert {p for p, topic, op in granted if topic == ORDERS.name and op == "WRITE"} == {"palmetto-client"}
    assert {p for p, topic, op in granted if topic == NOTIFICATIONS.name and op == "WRITE"} == {
        "palmetto-palmetto", "palmetto-courier",
    }  # fmt: skip
    assert ("palmetto-palmetto", ORDERS.name, "READ") in granted
    assert ("palmetto-palmetto", NOTIFICATIONS.name, "READ") not in granted
    assert ("palmetto-courier", ORDERS.name, "READ") not in granted


def test_each_service_writes_only_its_own_dead_letter_topics():
    granted = rights()
    dlt_writers = {(p, topic) for p, topic, op in granted if topic.endswith(".DLT") and op == "WRITE"}
    assert dlt_writers == {
        ("palmetto-palmetto", "orders.DLT"),
        ("palmetto-client", "orders.DLT"),  # the Client App consumes orders too (payments)
        ("palmetto-client", "notifications.DLT"),
        ("palmetto-courier", "notifications.DLT"),
    }


def test_each_service_uses_only_its_own_consumer_group():
    groups = {
        (b.principal.removeprefix("User:"), b.name)
        for b in acl_bindings("staging.")
        if b.restype == ResourceType.GROUP and b.resource_pattern_type == ResourcePatternType.LITERAL
        and b.operation == AclOperation.READ
    }  # fmt: skip
    assert groups == {(f"staging.palmetto-{s}", f"staging.palmetto-{s}") for s in ("client", "palmetto", "courier")}


def test_names_carry_the_topic_prefix_and_the_operator_is_a_separate_principal():
    granted = rights("staging.")
    assert ("staging.palmetto-client", "staging.orders", "WRITE") in granted
    assert principal_name("staging.", "operator") == "staging.palmetto-operator"
    operator = [b for b in acl_bindings("staging.") if b.principal == "User:staging.palmetto-operator"]
    assert any(b.name == "staging." and b.resource_pattern_type == ResourcePatternType.PREFIXED for b in operator)
    assert not any(g.principal == "operator" and g.kind == "topic" and not g.prefixed for g in policy())


def test_bindings_are_unique():
    bindings = acl_bindings("")
    assert len({str(b) for b in bindings}) == len(bindings)

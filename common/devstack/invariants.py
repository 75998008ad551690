"""The one invariant checker every fault scenario and the benchmark end with.

After the load drains it asserts, straight from the three databases and the topics:

* every order the API acknowledged (201) exists and reached exactly one terminal state;
* its status history only moves forward along legal transitions, with no duplicates;
* every consumed event took effect at most once in every service (inbox, and no
  status announced twice by the kitchen or the courier);
* no service's committed offset is ahead of what its database applied: every
  message below it was applied (or skipped by design, or dead-lettered by that group);
* every outbox is drained;
* the dead-letter topics hold exactly the poison messages the scenario injected, once per
  consumer group (copies a crash between dead-lettering and the offset commit wrote again
  count once);
* money: every order has one payment; every charge of a CANCELLED or REJECTED order is matched
  by exactly one refund and no other order is refunded; every DELIVERED card order is charged
  once and every DELIVERED cash order collected exactly once; each wallet's ledger sums to its
  balance; no balance is below zero.
"""

from __future__ import annotations

import itertools
import json
import time
from collections import Counter
from dataclasses import dataclass, field

import psycopg
from django.utils.module_loading import import_string

from common import deployment
from common.declaration import Service
from common.devstack.kafka_tools import Record, committed_offsets, consumed_to_end, read_all
from common.devstack.platform import Platform
from common.errors import InvalidEvent
from common.events import decode
from common.lifecycle import TERMINAL, Status, can_move
from common.topics import TOPICS, Topic, consumer_group

# Each service's declaration by name, and the Django app label its tables start with.
SERVICES: dict[str, Service] = {spec.name: import_string(spec.declaration) for spec in deployment.SERVICES}
TABLE_PREFIX = {name: service.inbox._meta.app_label for name, service in SERVICES.items()}


@dataclass(frozen=True)
class Poison:
    """A message a scenario wrote straight to ``topic``: every consumer group of it must dead-letter it."""

    topic: Topic
    key: bytes | None
    value: bytes | None


@dataclass
class Report:
    problems: list[str] = field(default_factory=list)
    figures: dict[str, object] = field(default_factory=dict)

    def expect(self, condition: bool, problem: str) -> None:
        if not condition:
            self.problems.append(problem)


class Invariants:
    def __init__(self, platform: Platform) -> None:
        self.platform = platform

    def rows(self, service: str, sql: str, params: tuple = ()) -> list[tuple]:
        with psycopg.connect(self.platform.db_urls[service], connect_timeout=5) as conn:
            return conn.execute(sql.replace("{t}", TABLE_PREFIX[service]), params).fetchall()

    # -- waiting for the platform to settle -----------------------------------------------------

    def _unsettled(self, acknowledged: dict[str, str]) -> str | None:
        terminal = [s.value for s in TERMINAL]
        done = {str(r[0]) for r in self.rows("client", "SELECT id FROM {t}_order WHERE status = ANY(%s)", (terminal,))}
        everything = {str(r[0]) for r in self.rows("client", "SELECT id FROM {t}_order")}
        missing = [oid for oid in {*acknowledged, *everything} if oid not in done]
        if missing:
            return f"{len(missing)} acknowledged orders not terminal yet (e.g. {missing[0]})"
        for service in SERVICES:
            (unsent,) = self.rows(service, "SELECT count(*) FROM {t}_outboxmessage WHERE sent_at IS NULL")[0]
            if unsent:
                return f"{service} outbox holds {unsent} unsent events"
        for service, spec in SERVICES.items():
            group = consumer_group(self.platform.prefix, service)
            for subscription in spec.subscriptions:
                name = subscription.topic.full_name(self.platform.prefix)
                if not consumed_to_end(self.platform.bootstrap, group, name):
                    return f"{group} has not committed {name} to its end"
        return None

    def wait_until_settled(self, acknowledged: dict[str, str], timeout: float = 240) -> None:
        deadline = time.monotonic() + timeout
        while (problem := self._unsettled(acknowledged)) is not None:
            if time.monotonic() > deadline:
                raise AssertionError(f"the platform did not settle within {timeout}s: {problem}")
            time.sleep(1)

    # -- the invariants -------------------------------------------------------------------------

    def check(self, acknowledged: dict[str, str], poison: list[Poison] = (), settle_timeout: float = 240) -> Report:
        """Wait for the platform to settle, then assert every invariant; returns figures for the log."""
        self.wait_until_settled(acknowledged, settle_timeout)
        report = Report()
        self._orders_and_histories(acknowledged, report)
        self._effects_once(report)
        self._offsets_not_ahead_of_database(report)
        self._dead_letters_are_exactly(poison, report)
        self._money(report)
        assert not report.problems, f"{len(report.problems)} invariant violations:\n" + "\n".join(report.problems[:40])
        return report

    def _orders_and_histories(self, acknowledged: dict[str, str], report: Report) -> None:
        orders = {
            str(r[0]): (r[1], r[2]) for r in self.rows("client", "SELECT id, status, correlation_id FROM {t}_order")
        }
        history: dict[str, list[tuple[int, str]]] = {}
        for order_id, sequence, status in self.rows(
            "client",
            "SELECT order_id, sequence, status FROM {t}_orderstatuschange WHERE kind = 'STATUS' "
            "ORDER BY order_id, sequence, id",
        ):
            history.setdefault(str(order_id), []).append((sequence, status))
        report.figures["acknowledged"] = len(acknowledged)
        report.figures["final statuses"] = dict(Counter(orders[o][0] for o in acknowledged if o in orders))
        for order_id, correlation_id in acknowledged.items():
            report.expect(order_id in orders, f"acknowledged order {order_id} is missing")
            if order_id not in orders:
                continue
            report.expect(orders[order_id][1] == correlation_id, f"{order_id}: correlation ID changed")
            entries = history.get(order_id, [])
            statuses = [Status(s) for _, s in entries]
            sequences = [seq for seq, _ in entries]
            report.expect(
                statuses[:1] == [Status.PLACED], f"{order_id}: history does not start with PLACED: {statuses}"
            )
            report.expect(
                sum(s in TERMINAL for s in statuses) == 1, f"{order_id}: not exactly one terminal state: {statuses}"
            )
            report.expect(len(set(statuses)) == len(statuses), f"{order_id}: duplicate history entries: {statuses}")
            report.expect(
                sequences == sorted(set(sequences)), f"{order_id}: sequences not strictly increasing: {sequences}"
            )
            for before, after in itertools.pairwise(statuses):
                report.expect(can_move(before, after), f"{order_id}: illegal move {before} -> {after}")
            report.expect(statuses[-1:] == [Status(orders[order_id][0])], f"{order_id}: status disagrees with history")
        # Orders the API did not acknowledge (a 503, a dropped connection) are all or nothing: an
        # order that exists has its items, its PLACED entry and its event, and is followed through.
        for (order_id,) in self.rows(
            "client",
            """
                SELECT o.id FROM {t}_order o WHERE NOT EXISTS (SELECT 1 FROM {t}_orderitem i WHERE i.order_id = o.id)
                OR NOT EXISTS (SELECT 1 FROM {t}_orderstatuschange h WHERE h.order_id = o.id AND h.status = 'PLACED')
                OR NOT EXISTS (SELECT 1 FROM {t}_outboxmessage m
                               WHERE m.order_id = o.id AND m.event_type = 'OrderPlaced')""",
        ):
            report.problems.append(f"order {order_id} is half-written")

    def _effects_once(self, report: Report) -> None:
        for service in SERVICES:
            (total, distinct) = self.rows(service, "SELECT count(*), count(DISTINCT event_id) FROM {t}_inboxevent")[0]
            report.expect(total == distinct, f"{service}: inbox holds an event twice")
            report.figures[f"{service} inbox"] = total
            announced = Counter()
            for order_id, event_type, value in self.rows(
                service, "SELECT order_id, event_type, value FROM {t}_outboxmessage"
            ):
                payload = json.loads(value)["payload"]
                announced[(str(order_id), event_type, payload.get("status"))] += 1
            twice = [key for key, n in announced.items() if n > 1]
            report.expect(not twice, f"{service}: announced twice: {twice[:5]}")
        (tickets, orders) = self.rows("palmetto", "SELECT count(*), count(DISTINCT order_id) FROM {t}_ticket")[0]
        report.expect(tickets == orders, "palmetto: an order has two tickets")
        (deliveries, orders) = self.rows("courier", "SELECT count(*), count(DISTINCT order_id) FROM {t}_delivery")[0]
        report.expect(deliveries == orders, "courier: an order has two deliveries")

    def _money(self, report: Report) -> None:
        for wallet_id, balance, ledger in self.rows(
            "client",
            "SELECT w.id, w.balance, coalesce(sum(e.amount), 0) FROM payments_wallet w "
            "LEFT JOIN payments_ledgerentry e ON e.wallet_id = w.id GROUP BY w.id, w.balance",
        ):
            report.expect(balance == ledger, f"wallet {wallet_id}: balance {balance} but its ledger sums to {ledger}")
            report.expect(balance >= 0, f"wallet {wallet_id}: balance {balance} below zero")
        payments = self.rows(
            "client",
            """
            SELECT o.id, o.status, p.method, p.status,
                   (SELECT count(*) FROM payments_ledgerentry e WHERE e.order_id = o.id AND e.kind = 'CHARGE'),
                   (SELECT count(*) FROM payments_ledgerentry e WHERE e.order_id = o.id AND e.kind = 'REFUND'),
                   (SELECT count(*) FROM {t}_orderstatuschange h WHERE h.order_id = o.id AND h.kind = 'CASH_COLLECTED')
            FROM {t}_order o LEFT JOIN payments_payment p ON p.order_id = o.id""",
        )
        figures: Counter = Counter()
        for order_id, status, method, payment, charges, refunds, collected in payments:
            figures[f"{method} {status} {payment}"] += 1
            report.expect(method is not None, f"order {order_id} has no payment")
            report.expect(charges <= 1 and refunds <= charges, f"{order_id}: {charges} charges, {refunds} refunds")
            if status in (Status.CANCELLED, Status.REJECTED):
                report.expect(refunds == charges, f"{order_id}: {status} with {charges} charges, {refunds} refunds")
            else:
                report.expect(refunds == 0, f"{order_id}: {status} but refunded")
            if status == Status.DELIVERED and method == "CARD":
                report.expect(charges == 1 and payment == "CHARGED", f"{order_id}: delivered unpaid ({payment})")
            if status == Status.DELIVERED and method == "CASH":
                report.expect(collected == 1 and payment == "COLLECTED", f"{order_id}: cash collected {collected}x")
            elif method == "CASH":
                report.expect(collected == 0, f"{order_id}: cash collected for a {status} order")
        report.figures["payments"] = dict(figures)

    def _dead_lettered(self) -> dict[str, list[Record]]:
        return {t.name: read_all(self.platform.bootstrap, t.dlt_name(self.platform.prefix), timeout=5) for t in TOPICS}

    def _offsets_not_ahead_of_database(self, report: Report) -> None:
        dead = {
            (
                r.headers.get("dlt.group", b"").decode(),
                r.headers["dlt.topic"].decode(),
                int(r.headers["dlt.partition"]),
                int(r.headers["dlt.offset"]),
            )
            for records in self._dead_lettered().values()
            for r in records
        }
        for service, spec in SERVICES.items():
            group = consumer_group(self.platform.prefix, service)
            applied = {str(r[0]) for r in self.rows(service, "SELECT event_id FROM {t}_inboxevent")}
            for subscription in spec.subscriptions:
                name = subscription.topic.full_name(self.platform.prefix)
                committed = committed_offsets(self.platform.bootstrap, group, name)
                for record in read_all(self.platform.bootstrap, name):
                    if record.offset >= committed[record.partition]:
                        continue
                    try:
                        envelope = decode(record.value, list(record.headers.items()))
                    except InvalidEvent:
                        report.expect(
                            (group, name, record.partition, record.offset) in dead,
                            f"{group}: committed past invalid {name}[{record.partition}]@{record.offset} "
                            "without dead-lettering it",
                        )
                        continue
                    if subscription.handler_for(envelope) is None:
                        continue  # skipped by design (e.g. the courier ignores all but READY_FOR_DELIVERY)
                    report.expect(
                        str(envelope.event_id) in applied,
                        f"{group}: committed past {name}[{record.partition}]@{record.offset} "
                        f"({envelope.event_type}) but never applied it",
                    )

    def _dead_letters_are_exactly(self, poison: list[Poison], report: Report) -> None:
        expected = Counter()
        for p in poison:
            for consumer in p.topic.consumers:
                expected[(p.topic.name, consumer_group(self.platform.prefix, consumer), p.key, p.value)] += 1
        # Dead-lettering is at least once: a consumer killed after writing a dead letter and before
        # committing past the message writes it again. Copies share their origin and count once.
        origins: dict[tuple, tuple] = {}
        written = 0
        for topic, records in self._dead_lettered().items():
            for r in records:
                written += 1
                group = r.headers.get("dlt.group", b"").decode()
                where = tuple(r.headers.get(h) for h in ("dlt.topic", "dlt.partition", "dlt.offset"))
                origins[(group, *where)] = (topic, group, r.key, r.value)
        found = Counter(origins.values())
        report.figures["dead letters"] = sum(found.values())
        report.figures["dead letters written again after a crash"] = written - len(origins)
        report.expect(
            found == expected,
            f"dead letters differ from the injected poison: missing {expected - found}, unexpected {found - expected}",
        )

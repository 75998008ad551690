"""Database helpers of the workers: set-based inserts and updates, LISTEN/NOTIFY wake-ups."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import timedelta
from datetime import timezone as dt_timezone
from decimal import Decimal

import psycopg
import psycopg.types.json
import pytest
from django.apps import apps
from django.db import IntegrityError, connection, connections, models, transaction
from django.utils import timezone

from common import db
from common.lifecycle import Status
from courier_app.delivery.models import Courier, Delivery
from palmetto_app.kitchen.models import Ticket
from tests.support.factories import open_ticket, order_placed

pytestmark = pytest.mark.django_db


def test_update_each_saves_each_objects_own_values_in_one_statement(django_assert_num_queries):
    tickets = [open_ticket(order_placed()) for _ in range(3)]
    untouched = open_ticket(order_placed())
    later = timezone.now() + timedelta(minutes=5)
    tickets[0].stage, tickets[0].sequence, tickets[0].next_stage_at = Status.PREPARING, 2, later
    tickets[1].stage, tickets[1].sequence, tickets[1].next_stage_at = Status.READY_FOR_DELIVERY, 3, None
    tickets[2].stage, tickets[2].sequence = Status.CANCELLED, 7
    tickets[2].reason = "not saved: not a listed field"
    with django_assert_num_queries(1):
        db.update_each(Ticket, tickets, ["stage", "sequence", "next_stage_at"])
    saved = {t.pk: t for t in Ticket.objects.all()}
    assert (saved[tickets[0].pk].stage, saved[tickets[0].pk].sequence) == (Status.PREPARING, 2)
    assert saved[tickets[0].pk].next_stage_at == later
    assert (saved[tickets[1].pk].stage, saved[tickets[1].pk].next_stage_at) == (Status.READY_FOR_DELIVERY, None)
    assert (saved[tickets[2].pk].stage, saved[tickets[2].pk].sequence) == (Status.CANCELLED, 7)
    assert saved[tickets[2].pk].reason == ""
    assert (saved[untouched.pk].stage, saved[untouched.pk].sequence) == (Status.ACCEPTED, 1)


def test_update_each_saves_a_foreign_key_and_does_nothing_for_no_objects(django_assert_num_queries):
    courier = Courier.objects.create(name="Test courier")
    delivery = Delivery.objects.create(order_id=order_placed().order_id, correlation_id="c", sequence=3,
                                       ready_at=timezone.now())
    delivery.courier = courier
    db.update_each(Delivery, [delivery], ["courier"])
    assert Delivery.objects.get().courier_id == courier.id
    with django_assert_num_queries(0):
        db.update_each(Delivery, [], ["courier"])



def test_insert_each_writes_rows_in_order_in_one_statement_and_can_skip_taken_values(django_assert_num_queries):
    ready = timezone.now()
    first, second = order_placed().order_id, order_placed().order_id
    rows = [Delivery(order_id=order_id, correlation_id=f"c{i}", sequence=3, ready_at=ready)
            for i, order_id in enumerate([first, second])]
    with django_assert_num_queries(1):
        assert db.insert_each(Delivery, rows, returning="order_id") == [first, second]
    saved = list(Delivery.objects.order_by("id"))
    assert [(d.order_id, d.correlation_id, d.stage) for d in saved] == [
        (first, "c0", "WAITING"), (second, "c1", "WAITING")
    ]
    assert all(d.updated_at is not None for d in saved)  # auto_now stamped, as a save would
    third = order_placed().order_id
    again = [Delivery(order_id=order_id, correlation_id="again", sequence=4, ready_at=ready)
             for order_id in [second, third, third]]
    with django_assert_num_queries(1):
        assert db.insert_each(Delivery, again, skip_conflicts_on="order_id", returning="order_id") == [third]
    assert Delivery.objects.get(order_id=second).correlation_id == "c1"
    assert Delivery.objects.filter(order_id=third).count() == 1
    with django_assert_num_queries(0):
        assert db.insert_each(Delivery, []) == []


def test_select_models_loads_instances_as_the_orm_does(django_assert_num_queries):
    for name in ("Al", "Bo", "Cy"):
        Courier.objects.create(name=name, busy=name == "Bo")
    with django_assert_num_queries(1):
        loaded = db.select_models(Courier, "WHERE name IN (%s, %s) ORDER BY name DESC", ["Al", "Bo"])
    orm = list(Courier.objects.filter(name__in=["Al", "Bo"]).order_by("-name"))
    assert [(c.pk, c.name, c.busy, c.active) for c in loaded] == [(c.pk, c.name, c.busy, c.active) for c in orm]
    assert all(not c._state.adding and c._state.db == "default" for c in loaded)  # as loaded: a save() updates
    assert db.select_models(Courier, "WHERE name = %s", ["Nobody"]) == []


def test_select_models_converts_columns_as_the_orm_does():
    ticket = open_ticket(order_placed())
    (loaded,) = db.select_models(Ticket, "WHERE id = %s", [ticket.pk])
    orm = Ticket.objects.get(pk=ticket.pk)
    assert isinstance(loaded.items, list) and loaded.items == orm.items  # a JSONField, loaded as the ORM loads it
    assert [getattr(loaded, f.attname) for f in Ticket._meta.concrete_fields] == [
        getattr(orm, f.attname) for f in Ticket._meta.concrete_fields
    ]


def test_batches_travel_with_numbered_parameters_and_fail_as_djangos_own_statements():
    assert db._binds_server_side(connections["default"])  # as the services run: server-side binding, no query log
    ready = timezone.now()
    orders = [uuid.uuid4() for _ in range(40)]  # 40 rows of 11 columns: past psycopg's 50 cached parameters
    rows = [Delivery(order_id=o, correlation_id=f"c{i}", sequence=3, ready_at=ready) for i, o in enumerate(orders)]
    assert db.insert_each(Delivery, rows, returning="order_id") == orders
    saved = list(Delivery.objects.order_by("id"))
    for delivery in saved:
        delivery.sequence, delivery.stage = 4, Delivery.Stage.OUT_FOR_DELIVERY
    db.update_each(Delivery, saved, ["sequence", "stage"])
    assert set(Delivery.objects.values_list("sequence", "stage")) == {(4, "OUT_FOR_DELIVERY")}
    again = [Delivery(order_id=orders[0], correlation_id="again", sequence=3, ready_at=ready)]
    with pytest.raises(IntegrityError), transaction.atomic():
        db.insert_each(Delivery, again)
    assert Delivery.objects.count() == 40


# Every concrete model of the three services, each field given a value of its own Python type and,
# where one exists, a value of another type the field converts (which must not take the short cut).
_PROJECT_MODELS = [m for m in apps.get_models() if m.__module__.split(".")[0] in ("client_app", "palmetto_app",
                                                                                  "courier_app", "common")]


def _values(field: models.Field) -> list:
    if field.is_relation:
        return _values(field.target_field)
    kind = field.get_internal_type()
    if kind in ("CharField", "TextField", "EmailField", "SlugField"):
        return ["some text", ""]
    if kind in ("IntegerField", "BigIntegerField", "SmallIntegerField", "PositiveIntegerField",
                "PositiveBigIntegerField", "PositiveSmallIntegerField", "AutoField", "BigAutoField"):
        return [7, "7", True]
    if kind == "BooleanField":
        return [True, 1]
    if kind == "UUIDField":
        value = uuid.uuid4()
        return [value, str(value)]
    if kind == "DateTimeField":
        return [timezone.now(), timezone.now().astimezone(dt_timezone(timedelta(hours=2)))]
    if kind == "DecimalField":
        return [Decimal("12.50"), "12.50", 3]
    if kind == "JSONField":
        return [{"a": [1, "b"]}, None]
    return [field.get_default()]


def _comparable(value):
    return ("json", value.obj) if isinstance(value, psycopg.types.json.Jsonb) else (type(value), value)


@pytest.mark.parametrize("model", _PROJECT_MODELS, ids=lambda m: m._meta.label)
def test_a_fields_value_for_the_database_is_what_the_field_itself_would_send(model):
    """The short cut of insert_each and update_each (common.db._db_values) against Django's own
    get_db_prep_save, for every field of every model, for values of the field's type and others."""
    conn = connections["default"]
    fields = [f for f in model._meta.concrete_fields if not (f.primary_key and isinstance(f, models.AutoField))]
    preps = db._db_values(model, tuple(f.name for f in fields), stamp=False)
    checked = 0
    for field, prep in zip(fields, preps, strict=True):
        for value in _values(field):
            obj = model()
            setattr(obj, field.attname, value)
            expected = field.get_db_prep_save(value, conn)
            assert _comparable(prep(obj, conn)) == _comparable(expected), (field, value)
            checked += 1
    assert checked >= len(fields)


def test_an_inserted_rows_auto_now_fields_are_stamped_as_a_save_would():
    before = timezone.now()
    delivery = Delivery(order_id=uuid.uuid4(), correlation_id="c", sequence=3, ready_at=before)
    names = ("ready_at", "updated_at")
    (ready, stamped) = [prep(delivery, connections["default"]) for prep in db._db_values(Delivery, names, stamp=True)]
    assert ready == before  # not auto_now: sent as it is
    assert before <= stamped <= timezone.now() and delivery.updated_at == stamped
    kept = [prep(delivery, connections["default"]) for prep in db._db_values(Delivery, names, stamp=False)]
    assert kept == [ready, stamped]  # an update of listed fields sends them as they are


def test_a_wakeup_is_woken_by_notifications_except_those_of_the_server_process_it_ignores():
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    stop = threading.Event()
    with psycopg.connect(**params, autocommit=True) as own, psycopg.connect(**params, autocommit=True) as other:
        wakeup = db.Wakeup("palmetto_test_wakeup", ignore_pid=lambda: own.info.backend_pid)
        try:
            assert wakeup.wait(stop, 0)  # just connected: it may have missed one, so it says it was woken
            own.execute("SELECT pg_notify('palmetto_test_wakeup', '')")
            assert not wakeup.wait(stop, 0.3)
            other.execute("SELECT pg_notify('palmetto_test_wakeup', '')")
            assert wakeup.wait(stop, 5)
            assert not wakeup.wait(stop, 0.1)  # read already
        finally:
            wakeup.close()


def test_a_wakeup_whose_connection_is_closed_by_the_server_returns_at_once_and_listens_again_later():
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    stop = threading.Event()
    with psycopg.connect(**params, autocommit=True) as other:
        wakeup = db.Wakeup("palmetto_test_wakeup")
        try:
            assert wakeup.wait(stop, 0)
            listener = wakeup._conn.info.backend_pid
            other.execute("SELECT pg_terminate_backend(%s)", [listener])
            started = time.process_time()
            assert not wakeup.wait(stop, 0.5)  # the closed socket is readable: it must not spin on it
            assert time.process_time() - started < 0.2
            assert wakeup._conn is None
            wakeup._retry_at = 0  # instead of waiting out the 5 s before the next attempt
            assert wakeup.wait(stop, 0)  # listening again on a new connection, so it may have missed one
            assert wakeup._conn.info.backend_pid != listener
            other.execute("SELECT pg_notify('palmetto_test_wakeup', '')")
            assert wakeup.wait(stop, 5)
        finally:
            wakeup.close()

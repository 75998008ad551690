"""Database helpers for the hot paths: connection hygiene, set-based writes, plain look-ups, LISTEN/NOTIFY wake-ups."""

from __future__ import annotations

import functools
import math
import select
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

from django.db import DEFAULT_DB_ALIAS, connection, connections, models
from django.db.backends.base.base import BaseDatabaseWrapper


def drop_broken_connection() -> None:
    """After a database error the connection may be dead; drop it so the retry opens a fresh one."""
    try:
        if connection.connection is not None and not connection.is_usable():
            connection.close()
    except Exception:
        connection.close()


def placeholders(count: int) -> str:
    """``%s, %s, ...``: the parameters of an ``IN (...)`` list in SQL the hot paths write by hand.

    They write it because the ORM builds and compiles a query anew on every call, which on a path
    run for every event or request costs more than the statement itself.
    """
    return ", ".join(["%s"] * count)


_M = TypeVar("_M", bound=models.Model)


def select_models(model: type[_M], where: str, params: Sequence) -> list[_M]:
    """``SELECT`` every column of ``model``'s table, then ``where`` (its ``WHERE``, ``ORDER BY``, ``LIMIT``),
    as instances, built as the ORM builds what it loads (``Model.from_db``).

    What ``model.objects.raw()`` returns, for look-ups run on every request, event or batch: its
    query machinery (column mapping, converters, iterator classes) cost about 0.1 ms of
    client CPU per query more than the query itself (in one process against PostgreSQL).
    """
    conn = _default()
    table, fields = model._meta.db_table, model._meta.concrete_fields
    columns = ", ".join(conn.ops.quote_name(f.column) for f in fields)
    names = [f.attname for f in fields]
    # What the ORM applies to a loaded column (a JSONField's from_db_value, a backend's own converters).
    converting = []
    for i, field in enumerate(fields):
        column = field.get_col(table)
        converters = conn.ops.get_db_converters(column) + field.get_db_converters(conn)
        if converters:
            converting.append((i, column, converters))
    with conn.cursor() as cursor:
        cursor.execute(f"SELECT {columns} FROM {conn.ops.quote_name(table)} {where}", params)
        rows = cursor.fetchall()
    if converting:
        rows = [list(row) for row in rows]
        for row in rows:
            for i, column, converters in converting:
                for convert in converters:
                    row[i] = convert(row[i], column, conn)
    return [model.from_db(conn.alias, names, row) for row in rows]


def update_each(model: type[models.Model], objs: Sequence[models.Model], fields: Sequence[str]) -> None:
    """Save ``fields`` of every one of ``objs`` (each its own values) in one statement.

    What ``QuerySet.bulk_update`` does, for the workers' hot paths: on PostgreSQL one
    ``UPDATE ... FROM (VALUES ...)``, whose cost in Python grows with the number of values, where
    ``bulk_update`` builds and compiles a ``CASE`` expression per object and field (most of a timer
    tick's CPU). Other databases get ``bulk_update``. ``auto_now`` fields are not touched: set them.
    """
    if not objs:
        return
    conn = _default()
    if conn.vendor != "postgresql":
        model.objects.bulk_update(objs, fields)
        return
    quote = conn.ops.quote_name
    pk = model._meta.pk
    columns = [pk, *(model._meta.get_field(name) for name in fields)]
    numbered = _binds_server_side(conn)
    casts = tuple(f"::{field.db_type(conn)}" for field in columns)
    preps = _db_values(model, tuple(fields), stamp=False)
    params = []
    for obj in objs:
        params.append(pk.get_db_prep_value(obj.pk, conn))
        params += [prep(obj, conn) for prep in preps]
    names = [quote(field.column) for field in columns]
    with _cursor(conn, numbered) as cursor:
        cursor.execute(
            f"UPDATE {quote(model._meta.db_table)} AS t SET {', '.join(f'{n} = v.{n}' for n in names[1:])} "
            f"FROM (VALUES {_rows(casts, len(objs), numbered)}) AS v({', '.join(names)}) "
            f"WHERE t.{names[0]} = v.{names[0]}",
            params,
        )


# -- statements of many rows -------------------------------------------------------------------------
#
# psycopg finds the ``%s`` of a statement's text with a regular expression and keeps what it found
# only for statements of at most 50 parameters; a batch of rows has hundreds, so every batch's
# insert was scanned anew (5 to 12 % of each runconsumers' CPU in a profile). Numbered
# parameters, PostgreSQL's own ``$1``, ``$2``, ..., through psycopg's ``RawCursor``, leave it
# nothing to find; the texts are cached by shape. With client-side binding (a connection option),
# where psycopg writes the values into the text, ``%s`` it stays; and so it does while Django
# records queries (DEBUG, tests counting queries), which renders each with ``%s`` placeholders.


def _default() -> BaseDatabaseWrapper:
    """This thread's connection to the default database. Each attribute read through
    ``django.db.connection`` looks the connection up again (asgiref's thread-critical ``Local``, a
    raised and caught exception each time): the helpers below look it up once per call."""
    return connections[DEFAULT_DB_ALIAS]


def _binds_server_side(conn: BaseDatabaseWrapper) -> bool:
    return conn.settings_dict["OPTIONS"].get("server_side_binding") is True and not conn.queries_logged


@functools.lru_cache(maxsize=512)
def _rows(casts: tuple[str, ...], count: int, numbered: bool) -> str:
    """``(p, p), (p, p), ...``: ``count`` rows of one parameter per column, ``p`` either ``%s`` or,
    ``numbered``, ``$1``, ``$2``, ... in order; ``casts`` holds each column's ``::type`` or ``""``."""
    if not numbered:
        row = "(" + ", ".join(f"%s{cast}" for cast in casts) + ")"
        return ", ".join([row] * count)
    width = len(casts)
    return ", ".join(
        "(" + ", ".join(f"${r * width + c}{cast}" for c, cast in enumerate(casts, 1)) + ")" for r in range(count)
    )


def _cursor(conn: BaseDatabaseWrapper, numbered: bool):
    """A cursor of ``conn``, in its transaction, wrapped as Django wraps its own (its errors become
    Django's); ``numbered``: one that takes ``$n`` parameters. Values it returns are loaded as by
    Django's cursors: Django opens its connections with its time zone's loaders already (a cursor of
    its own adds one only when the time zone changed since)."""
    if not numbered:
        return conn.cursor()
    import psycopg

    # The steps of conn.cursor(), with psycopg's RawCursor in place of the connection's own.
    conn.close_if_health_check_failed()
    conn.ensure_connection()
    conn.validate_thread_sharing()
    return conn.make_cursor(psycopg.RawCursor(conn.connection))


# -- a field's value as the database driver takes it -------------------------------------------------
#
# ``field.get_db_prep_save(field.pre_save(obj, True), connection)`` is what a save sends for each
# field, and for a value that already has the field's own Python type it changes nothing on
# PostgreSQL (or only wraps an integer in psycopg's sized type). Called for every field of every
# row, its chain of calls (get_prep_value, to_python, the backend's adapt_*) was most of the
# client's cost of writing a batch of rows, so the helpers below take that short cut and go the
# whole way only for other values (expressions, strings for UUIDs, naive datetimes, JSON, ...).

_Prep = Callable[[models.Model, BaseDatabaseWrapper], Any]


def _is_any(value: Any) -> bool:
    return True


def _shortcut(field: models.Field) -> tuple[type, Callable[[Any], bool], Callable[[Any, Any], Any]] | None:
    """(Python type, its precondition, value -> database value given ``connection``) when ``field``'s
    preparation of a value of exactly that type is known; None to always go the field's whole way.

    Exact classes only: a subclass may prepare its values differently.
    """
    kind = type(field)
    if kind in (models.CharField, models.TextField):
        return str, _is_any, lambda value, conn: value
    if kind is models.BooleanField:
        return bool, _is_any, lambda value, conn: value
    if kind in (models.IntegerField, models.BigIntegerField, models.SmallIntegerField, models.PositiveIntegerField,
                models.PositiveBigIntegerField, models.PositiveSmallIntegerField):
        internal = field.get_internal_type()
        return int, _is_any, lambda value, conn: conn.ops.adapt_integerfield_value(value, internal)
    if kind is models.UUIDField:
        return uuid.UUID, _is_any, lambda value, conn: value if conn.features.has_native_uuid_field else value.hex
    if kind is models.DateTimeField:
        # A naive datetime is made aware (with a warning) by the field: not the short cut's business.
        return datetime, _is_aware, lambda value, conn: conn.ops.adapt_datetimefield_value(value)
    if kind is models.DecimalField:
        digits, places = field.max_digits, field.decimal_places
        return Decimal, Decimal.is_finite, lambda value, conn: conn.ops.adapt_decimalfield_value(value, digits, places)
    if kind is models.ForeignKey and not field.target_field.is_relation:
        # The foreign key's own step only turns None and "" into NULL; the rest is its target's.
        return _shortcut(field.target_field)
    return None


def _is_aware(value: datetime) -> bool:
    return value.tzinfo is not None


@functools.cache
def _db_values(model: type[models.Model], names: tuple[str, ...], *, stamp: bool) -> list[_Prep]:
    """For each field named, a function (obj, connection) -> what saving ``obj`` sends for it.

    ``stamp``: call ``pre_save`` as an insert does (``auto_now``/``auto_now_add`` fields take the
    current time); otherwise read the attribute as it is (what an update of listed fields sends).
    """
    return [_db_value(model._meta.get_field(name), stamp=stamp) for name in names]


def _db_value(field: models.Field, *, stamp: bool) -> _Prep:
    attname, pre_save, full = field.attname, field.pre_save, field.get_db_prep_save
    if stamp and (getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False)):
        def read(obj: models.Model) -> Any:
            return pre_save(obj, True)
    else:
        def read(obj: models.Model) -> Any:
            return getattr(obj, attname)  # what Field.pre_save returns
    shortcut = _shortcut(field)
    if shortcut is None:
        return lambda obj, conn: full(read(obj), conn)
    python_type, applies, convert = shortcut

    def prep(obj: models.Model, conn: BaseDatabaseWrapper) -> Any:
        value = read(obj)
        if type(value) is python_type and applies(value):
            return convert(value, conn)
        return full(value, conn)

    return prep


def insert_each(
    model: type[models.Model], objs: Sequence[models.Model], *, skip_conflicts_on: str | None = None,
    returning: str | None = None,
) -> list:
    """Insert ``objs`` in one ``INSERT ... VALUES``, in list order; return the ``returning`` column of
    each row inserted (empty when ``returning`` is None).

    What ``QuerySet.bulk_create`` does, for the workers' hot paths, without its query compiler
    (which on PostgreSQL packs every column into an array for ``UNNEST``, then unpacks it: most
    of the cost of writing a batch's events). ``skip_conflicts_on``: a unique column; a row
    whose value is taken already -- in the table or earlier in ``objs`` -- is not inserted (and
    not returned). The automatic primary key is left to the database (the objects' stays None:
    return it if needed); ``auto_now_add`` and ``auto_now`` fields are stamped as a save would.
    No signals are sent. Other databases get ``bulk_create``.
    """
    if not objs:
        return []
    conn = _default()
    if conn.vendor != "postgresql":
        created = model.objects.bulk_create(objs, ignore_conflicts=skip_conflicts_on is not None)
        return [getattr(obj, returning) for obj in created] if returning else []
    quote = conn.ops.quote_name
    fields = [f for f in model._meta.concrete_fields if not (f.primary_key and isinstance(f, models.AutoField))]
    preps = _db_values(model, tuple(f.name for f in fields), stamp=True)
    params = []
    for obj in objs:
        params += [prep(obj, conn) for prep in preps]
    numbered = _binds_server_side(conn)
    sql = (
        f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) "
        f"VALUES {_rows(('',) * len(fields), len(objs), numbered)}"
    )
    if skip_conflicts_on is not None:
        sql += f" ON CONFLICT ({quote(model._meta.get_field(skip_conflicts_on).column)}) DO NOTHING"
    if returning is not None:
        sql += f" RETURNING {quote(model._meta.get_field(returning).column)}"
    with _cursor(conn, numbered) as cursor:
        cursor.execute(sql, params)
        returned = [value for (value,) in cursor.fetchall()] if returning else []
    for obj in objs:  # saved, as bulk_create leaves them (a later save() updates rather than inserts)
        obj._state.adding, obj._state.db = False, conn.alias
    return returned


# -- waking workers with PostgreSQL LISTEN/NOTIFY ----------------------------------------------------
#
# The outbox relay and the durable timers sleep until there is work. A trigger on the tables that
# create work (an outbox row to send, a timer set) fires ``pg_notify`` inside the writing
# transaction, so the notification arrives exactly when the work becomes visible (at commit) and
# never for a rolled-back change. The workers keep a slow poll as a safety net: a notification
# sent while a listener was reconnecting is not lost work, only later work.

OUTBOX_CHANNEL = "palmetto_outbox"
TIMERS_CHANNEL = "palmetto_timers"


def notify_trigger(table: str, channel: str, *, on: str, when: str | None = None):
    """A migration operation: after ``on`` (e.g. ``"INSERT OR UPDATE OF sent_at"``) on ``table``, notify ``channel``.

    Row-level with an optional ``when`` condition on ``NEW``; PostgreSQL delivers one notification
    per channel per transaction however many rows fired it. A no-op on other databases (SQLite).
    """
    from django.db import migrations

    function, trigger = f"{table}_notify", f"{table}_notify"
    condition = f"WHEN ({when})" if when else ""

    def create(apps, schema_editor) -> None:
        if schema_editor.connection.vendor != "postgresql":
            return
        schema_editor.execute(
            f"CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN PERFORM pg_notify('{channel}', ''); RETURN NULL; END $$"
        )
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {trigger} ON {table}")
        schema_editor.execute(
            f"CREATE TRIGGER {trigger} AFTER {on} ON {table} FOR EACH ROW {condition} EXECUTE FUNCTION {function}()"
        )

    def drop(apps, schema_editor) -> None:
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {trigger} ON {table}")
            schema_editor.execute(f"DROP FUNCTION IF EXISTS {function}()")

    return migrations.RunPython(create, drop)


class Wakeup:
    """Sleeps until a notification on ``channel`` arrives (PostgreSQL) or a timeout passes.

    Holds its own connection, opened lazily from the default database's settings by the
    thread that waits (a connection belongs to one thread). Any trouble with it -- the
    database down, another vendor -- degrades to a plain timed sleep; it is retried later.
    """

    def __init__(self, channel: str, *, slice_seconds: float = 0.5,
                 ignore_pid: Callable[[], int | None] | None = None) -> None:
        """``ignore_pid``: notifications fired by this server process are ignored (e.g.
        :func:`backend_pid`: the waiting thread's own writes). For a loop that reads what its own
        steps set up anyway -- the timers ask ``next_due()`` after each tick -- such a notification
        would only buy an empty step: a tick that sets a timer or frees a courier would wake itself."""
        self.channel = channel
        self.slice_seconds = slice_seconds  # how soon a stop request is seen while waiting
        self.ignore_pid = ignore_pid
        self._conn = None
        self._poller = None  # select.poll() of _conn's socket: readable when the server sent something
        self._fresh = False
        self._retry_at = 0.0

    def wait(self, stop, timeout: float) -> bool:
        """Wait up to ``timeout`` s (less if ``stop`` is set); True when woken by a notification, or when
        the listener was (re)connected just now and so may have missed one."""
        deadline = time.monotonic() + timeout
        if self._conn is None and not self._connect():
            stop.wait(timeout)
            return False
        if self._fresh:
            self._fresh = False
            return True
        while not stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            try:
                ignored = self.ignore_pid() if self.ignore_pid else None
                # Wait on the socket here rather than in psycopg's notifies(timeout=...), which wakes every
                # 0.1 s to look for signals: five listeners waiting that way cost 0.9 % of a core at rest,
                # 0.2 % waiting on poll() (/proc ticks over 60 s on our 2-core VM).
                if not self._poller.poll(math.ceil(1000 * min(left, self.slice_seconds))):
                    continue
                # All that has arrived, at once: a burst of transactions is one wake-up, not one each. A
                # closed connection raises here (and is reopened later) rather than staying readable.
                if any(pid != ignored for pid in [n.pid for n in self._conn.notifies(timeout=0)]):
                    return True
            except Exception:
                self.close()
                stop.wait(max(0.0, deadline - time.monotonic()))
                return False
        return False

    def _connect(self) -> bool:
        if connection.vendor != "postgresql" or time.monotonic() < self._retry_at:
            return False
        try:
            import psycopg

            params = connection.get_connection_params()
            params.pop("cursor_factory", None)
            self._conn = psycopg.connect(**params, autocommit=True)
            self._conn.execute(f"LISTEN {self.channel}")
            self._poller = select.poll()
            self._poller.register(self._conn.fileno(), select.POLLIN)
        except Exception:
            self.close()
            self._retry_at = time.monotonic() + 5
            return False
        self._fresh = True
        return True

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:
                pass
        self._conn = self._poller = None


def backend_pid() -> int | None:
    """The server process of this thread's Django connection (None when it is not open)."""
    raw = connection.connection
    return None if raw is None else raw.info.backend_pid

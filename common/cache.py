"""The shared cache (settings.CACHES): Django's database cache, one statement per read or write.

Django's stock ``DatabaseCache`` spends five round trips on every ``set``: it counts the
whole table (to decide whether to cull), then, in a transaction of its own (BEGIN, COMMIT),
reads the key and inserts or updates it; and a ``get`` that finds an expired entry deletes
it. The throttles read and write their entry on every request they allow, so on the order
path that was most of the cache's cost. :class:`UpsertDatabaseCache` keeps the stock table and
semantics and changes three things on PostgreSQL:

* ``set``, ``add`` and ``touch`` are one statement each (``INSERT ... ON CONFLICT
  (cache_key) DO UPDATE``, or a plain ``UPDATE`` for ``touch``). PostgreSQL makes the
  upsert atomic against a concurrent writer of the same key, which the stock code needed
  its transaction for; a write that fails still answers False without spoiling the
  caller's transaction (it runs in a savepoint inside an atomic block).
* ``get``/``get_many`` select live entries only (``expires`` checked in the query) and leave
  expired ones to the cull: the next write of the key overwrites it anyway.
* Culling runs at most once per ``CULL_INTERVAL`` seconds per process and table, not on
  every write: it deletes the expired entries (``expires`` is indexed), then culls as the
  stock backend does if the table still holds more than ``MAX_ENTRIES``. Between two culls
  the table may exceed ``MAX_ENTRIES`` a little.

Other databases (the quick local run on SQLite) get the stock behaviour unchanged.
"""

from __future__ import annotations

import base64
import pickle
import threading
import time
from contextlib import nullcontext
from datetime import UTC, datetime
from typing import Any, ClassVar

from django.conf import settings
from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.db import DatabaseCache
from django.db import DatabaseError, connections, router, transaction
from django.utils.timezone import now as tz_now

from common.db import placeholders

DEFAULT_CULL_INTERVAL = 60.0  # seconds


class UpsertDatabaseCache(DatabaseCache):
    """``DatabaseCache`` whose writes are single upserts on PostgreSQL and whose culling is periodic.

    ``OPTIONS``: ``MAX_ENTRIES`` and ``CULL_FREQUENCY`` as Django documents them, plus
    ``CULL_INTERVAL`` (seconds between two culls by one process; default 60).
    """

    # Monotonic time of the next culling check, per (database alias, table): shared by the
    # per-thread instances Django creates, so a process checks once per interval, not once per thread.
    _next_cull: ClassVar[dict[tuple[str, str], float]] = {}
    _cull_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, table: str, params: dict[str, Any]) -> None:
        super().__init__(table, params)
        self.cull_interval = float(params.get("OPTIONS", {}).get("CULL_INTERVAL", DEFAULT_CULL_INTERVAL))

    def get_many(self, keys: Any, version: int | None = None) -> dict[Any, Any]:
        db = router.db_for_read(self.cache_model_class)
        connection = connections[db]
        if connection.vendor != "postgresql" or not keys:
            return super().get_many(keys, version)
        key_map = {self.make_and_validate_key(key, version=version): key for key in keys}
        quote_name = connection.ops.quote_name
        cache_key, value_column, expires_column = (quote_name(c) for c in ("cache_key", "value", "expires"))
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {cache_key}, {value_column} FROM {quote_name(self._table)} "
                f"WHERE {cache_key} IN ({placeholders(len(key_map))}) AND {expires_column} >= %s",
                [*key_map, connection.ops.adapt_datetimefield_value(tz_now())],  # live: not yet past expires
            )
            rows = cursor.fetchall()
        return {key_map[key]: pickle.loads(base64.b64decode(value.encode())) for key, value in rows}

    def _base_set(self, mode: str, key: str, value: Any, timeout: float | None = DEFAULT_TIMEOUT) -> bool:
        db = router.db_for_write(self.cache_model_class)
        connection = connections[db]
        if connection.vendor != "postgresql":
            return super()._base_set(mode, key, value, timeout)
        timeout = self.get_backend_timeout(timeout)
        now = tz_now().replace(microsecond=0)
        # As the stock backend stores them: whole seconds, aware when USE_TZ.
        tz = UTC if settings.USE_TZ else None
        expires = datetime.max if timeout is None else datetime.fromtimestamp(timeout, tz=tz)
        expires = connection.ops.adapt_datetimefield_value(expires.replace(microsecond=0))
        quote_name = connection.ops.quote_name
        table = quote_name(self._table)
        cache_key, value_column, expires_column = (quote_name(c) for c in ("cache_key", "value", "expires"))
        if mode == "touch":
            sql = f"UPDATE {table} SET {expires_column} = %s WHERE {cache_key} = %s"
            params: list[Any] = [expires, key]
        else:
            encoded = base64.b64encode(pickle.dumps(value, self.pickle_protocol)).decode("latin1")
            sql = (
                f"INSERT INTO {table} ({cache_key}, {value_column}, {expires_column}) VALUES (%s, %s, %s) "
                f"ON CONFLICT ({cache_key}) DO UPDATE "
                f"SET {value_column} = EXCLUDED.{value_column}, {expires_column} = EXCLUDED.{expires_column}"
            )
            params = [key, encoded, expires]
            if mode == "add":  # only over a missing or expired entry, as the stock backend decides
                sql += f" WHERE {table}.{expires_column} < %s"
                params.append(connection.ops.adapt_datetimefield_value(now))
        try:
            # In an atomic block, a savepoint: a failed write (a lock timeout, say) must leave the caller's
            # transaction usable. In autocommit each statement is its own transaction: nothing to wrap.
            with transaction.atomic(using=db) if connection.in_atomic_block else nullcontext():
                with connection.cursor() as cursor:
                    self._maybe_cull(db, cursor, now)
                    cursor.execute(sql, params)
                    return cursor.rowcount == 1
        except DatabaseError:
            return False  # as the stock backend: a cache write may fail silently

    def _maybe_cull(self, db: str, cursor: Any, now: datetime) -> None:
        """Delete expired entries, then cull the stock way if still too many, unless this process did so less
        than ``cull_interval`` ago."""
        slot = (db, self._table)
        with self._cull_lock:
            clock = time.monotonic()
            if clock < self._next_cull.get(slot, 0.0):
                return
            self._next_cull[slot] = clock + self.cull_interval
        ops = connections[db].ops
        table = ops.quote_name(self._table)
        expired = ops.adapt_datetimefield_value(now)
        cursor.execute(f"DELETE FROM {table} WHERE {ops.quote_name('expires')} < %s", [expired])
        cursor.execute(f"SELECT COUNT(*) FROM {table}")
        entries = cursor.fetchone()[0]
        if entries > self._max_entries:
            self._cull(db, cursor, now, entries)

"""The shared cache (settings.CACHES): Django's database cache, writing each entry in one statement.

Django's stock ``DatabaseCache`` spends four statements on every ``set``: it counts the
whole table (to decide whether to cull), then, in a transaction of its own, reads the key
and inserts or updates it. The throttles write their entry on every request they allow,
so on the order path that was most of the cache's cost. :class:`UpsertDatabaseCache`
keeps the stock table, reads and semantics and changes two things on PostgreSQL:

* ``set``, ``add`` and ``touch`` are one statement each (``INSERT ... ON CONFLICT
  (cache_key) DO UPDATE``, or a plain ``UPDATE`` for ``touch``). PostgreSQL makes the
  upsert atomic against a concurrent writer of the same key, which the stock code needed
  its transaction for; a write that fails still answers False without spoiling the
  caller's transaction (it runs in a savepoint inside an atomic block).
* Culling is checked at most once per ``CULL_INTERVAL`` seconds per process and table,
  not on every write. Between checks the table may exceed ``MAX_ENTRIES`` a little; expired
  entries are never returned either way (reads check ``expires``).

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

DEFAULT_CULL_INTERVAL = 60.0  # seconds


class UpsertDatabaseCache(DatabaseCache):
    """``DatabaseCache`` whose writes are single upserts on PostgreSQL and whose culling is periodic.

    ``OPTIONS``: ``MAX_ENTRIES`` and ``CULL_FREQUENCY`` as Django documents them, plus
    ``CULL_INTERVAL`` (seconds between two culling checks of one process; default 60).
    """

    # Monotonic time of the next culling check, per (database alias, table): shared by the
    # per-thread instances Django creates, so a process checks once per interval, not once per thread.
    _next_cull: ClassVar[dict[tuple[str, str], float]] = {}
    _cull_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, table: str, params: dict[str, Any]) -> None:
        super().__init__(table, params)
        self.cull_interval = float(params.get("OPTIONS", {}).get("CULL_INTERVAL", DEFAULT_CULL_INTERVAL))

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
        """Count the table and cull it (the stock way) unless this process checked less than ``cull_interval`` ago."""
        slot = (db, self._table)
        with self._cull_lock:
            clock = time.monotonic()
            if clock < self._next_cull.get(slot, 0.0):
                return
            self._next_cull[slot] = clock + self.cull_interval
        cursor.execute(f"SELECT COUNT(*) FROM {connections[db].ops.quote_name(self._table)}")
        entries = cursor.fetchone()[0]
        if entries > self._max_entries:
            self._cull(db, cursor, now, entries)

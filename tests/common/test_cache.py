"""The shared cache keeps Django's database-cache semantics with one statement per write and periodic culling."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.db import connection

from common.cache import UpsertDatabaseCache


@pytest.fixture
def cache(monkeypatch) -> UpsertDatabaseCache:
    """A cache on the shared table whose next write checks for culling, and then not for an hour."""
    monkeypatch.setattr(UpsertDatabaseCache, "_next_cull", {})
    backend = UpsertDatabaseCache(settings.CACHE_TABLE, {"OPTIONS": {"MAX_ENTRIES": 3, "CULL_INTERVAL": 3600}})
    backend.clear()
    return backend


def _rows() -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {settings.CACHE_TABLE}")
        return cursor.fetchone()[0]


@pytest.mark.django_db
def test_set_writes_and_overwrites(cache):
    assert cache.set("k", [1.5, 2.5], 60) is None
    assert cache.get("k") == [1.5, 2.5]
    cache.set("k", "again", 60)
    assert cache.get("k") == "again"


@pytest.mark.django_db
def test_add_writes_only_over_a_missing_or_expired_entry(cache):
    assert cache.add("k", "first", 60) is True
    assert cache.add("k", "second", 60) is False
    assert cache.get("k") == "first"
    cache.set("old", "stale", 0)  # expires at once
    assert cache.add("old", "fresh", 60) is True
    assert cache.get("old") == "fresh"


@pytest.mark.django_db
def test_touch_moves_the_expiry_of_an_existing_entry_only(cache):
    assert cache.touch("missing", 60) is False
    cache.set("k", "v", 60)
    assert cache.touch("k", None) is True
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT expires FROM {settings.CACHE_TABLE} WHERE cache_key = %s", [cache.make_key("k")])
        assert cursor.fetchone()[0].year == 9999  # never expires


@pytest.mark.django_db(transaction=True)
def test_a_write_is_one_statement_in_autocommit(cache, django_assert_num_queries):
    cache.set("first", 1, 60)  # checks for culling
    with django_assert_num_queries(1):
        cache.set("k", 1, 60)
    with django_assert_num_queries(1):
        cache.add("k", 2, 60)
    with django_assert_num_queries(1):
        cache.touch("k", 60)


@pytest.mark.django_db(transaction=True)
def test_a_read_is_one_statement_and_returns_live_entries_only(cache, django_assert_num_queries):
    cache.set("live", 1, 60)
    cache.set("expired", 2, 0)
    with django_assert_num_queries(1):  # the expired entry is left to the cull, not deleted by the read
        assert cache.get_many(["live", "expired", "missing"]) == {"live": 1}
    assert cache.get("expired", "default") == "default" and cache.has_key("live") and not cache.has_key("expired")
    assert _rows() == 2


@pytest.mark.django_db
def test_culling_runs_once_per_interval(cache, monkeypatch):
    for i in range(4):
        cache.set(f"expired-{i}", i, 0)
    cache.set("live", 1, 60)
    assert _rows() == 5  # culled (nothing) at the first write only
    monkeypatch.setattr(UpsertDatabaseCache, "_next_cull", {})  # the interval has passed
    cache.set("next", 2, 60)
    assert _rows() == 2  # the expired entries went
    assert cache.get("live") == 1 and cache.get("next") == 2
    for i in range(4):
        cache.set(f"live-{i}", i, 60)
    monkeypatch.setattr(UpsertDatabaseCache, "_next_cull", {})
    cache.set("last", 3, 60)
    assert _rows() < 7  # over MAX_ENTRIES (3) with nothing expired: culled as the stock backend culls


@pytest.mark.django_db
def test_a_failed_write_answers_false_and_leaves_the_callers_transaction_usable(cache):
    assert connection.in_atomic_block
    assert cache._base_set("set", "x" * 300, "v", 60) is False  # longer than the cache_key column
    cache.set("k", "v", 60)
    assert cache.get("k") == "v"

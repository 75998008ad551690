"""Database connection hygiene for long-running workers."""

from __future__ import annotations

from django.db import connection


def drop_broken_connection() -> None:
    """After a database error the connection may be dead; drop it so the retry opens a fresh one."""
    try:
        if connection.connection is not None and not connection.is_usable():
            connection.close()
    except Exception:
        connection.close()

"""The correlation ID of the order being worked on, for every log line.

One ID per order: minted when the order is created (or taken from the
``X-Correlation-ID`` request header), used as the Kafka key and header, stored
in every service's database. Code that works on one order binds it with
:func:`bound`; :class:`CorrelationFilter` puts it on every log record, so
``grep <id>`` across the three services' logs tells an order's whole story.
"""

from __future__ import annotations

import contextvars
import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from common.events import CORRELATION_ID_RE

HEADER = "X-Correlation-ID"
_current: contextvars.ContextVar[str] = contextvars.ContextVar("correlation_id", default="-")


def mint() -> str:
    return str(uuid.uuid4())


def is_valid(value: str) -> bool:
    return bool(CORRELATION_ID_RE.match(value))


@contextmanager
def bound(correlation_id: str) -> Iterator[None]:
    """Log everything inside the block under ``correlation_id``."""
    token = _current.set(correlation_id)
    try:
        yield
    finally:
        _current.reset(token)


class CorrelationFilter(logging.Filter):
    """Adds ``record.correlation_id`` so formatters can print it."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.correlation_id = _current.get()
        return True

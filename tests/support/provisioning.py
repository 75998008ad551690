"""Real infrastructure for the tests: when it cannot be provisioned, the test fails saying what is missing."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from common.devstack import ProvisioningError


@contextmanager
def or_fail(what: str) -> Iterator[None]:
    """Run the block that provisions ``what``; a :class:`ProvisioningError` fails the test (never skips it)."""
    try:
        yield
    except ProvisioningError as exc:
        pytest.fail(f"{what} could not be provisioned, so the suite cannot run:\n{exc}", pytrace=False)

"""Changing the platform's configuration inside a test (pytest-django restores settings afterwards)."""

from __future__ import annotations

import dataclasses


def configure(settings, **changes) -> None:
    """Replace fields of ``settings.PALMETTO_CONFIG``, the one place code reads configuration from."""
    settings.PALMETTO_CONFIG = dataclasses.replace(settings.PALMETTO_CONFIG, **changes)

"""The production profile: no development secret key with DEBUG off, and `check --deploy` finds nothing."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from common.config import BASE_DIR
from common.deployment import SERVICES

STRONG_KEY = "k7Q-pz3VwY9rT2mL8xN4bF6hJ1sD5gA0cE_uR7iO3pK9wZ2vX8yB4nM6qS1tU5aH0"


def manage(service, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SECRET_KEY", "DJANGO_SETTINGS_MODULE")}
    return subprocess.run(
        [sys.executable, str(BASE_DIR / "manage.py"), *args, f"--settings={service.settings_module}"],
        env=environment | env, cwd=BASE_DIR, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.name)
def test_check_deploy_reports_nothing_under_the_production_profile(service):
    result = manage(
        service, "check", "--deploy", "--fail-level", "DEBUG",
        DJANGO_DEBUG="0", DJANGO_SECRET_KEY=STRONG_KEY, PALMETTO_HTTPS="1",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout, result.stdout + result.stderr


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.name)
def test_a_service_refuses_to_start_without_a_secret_key_when_debug_is_off(service):
    result = manage(service, "check", DJANGO_DEBUG="0")
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and "DJANGO_SECRET_KEY is not set" in result.stderr


def test_development_may_use_the_built_in_key():
    result = manage(SERVICES[0], "check", DJANGO_DEBUG="1")
    assert result.returncode == 0, result.stderr

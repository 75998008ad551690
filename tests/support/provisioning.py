"""Real infrastructure for the tests: when it cannot be provisioned, the test fails saying what is missing."""

from __future__ import annotations

import os
import shutil
import subprocess
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


def ensure_system_packages(binaries: dict[str, str], packages: tuple[str, ...]) -> dict[str, str]:
    """Paths of ``binaries`` (name -> its Debian package); when one is missing and we are root, apt-get
    installs ``packages``; if that is impossible or fails, the test FAILS naming the packages."""
    found = {name: shutil.which(name) for name in binaries}
    if all(found.values()):
        return found  # type: ignore[return-value]
    problem = ""
    if os.geteuid() == 0 and shutil.which("apt-get"):
        env = os.environ | {"DEBIAN_FRONTEND": "noninteractive"}
        for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", *packages]):
            done = subprocess.run(command, env=env, capture_output=True, text=True)
            if done.returncode:
                problem = f"`{' '.join(command)}` failed: {done.stderr.strip()[-500:]}"
                break
        found = {name: shutil.which(name) for name in binaries}
    else:
        problem = "not root (or no apt-get), so the test cannot install them"
    missing = [f"{name} (package {package})" for name, package in binaries.items() if not found[name]]
    if missing:
        pytest.fail(f"missing system packages: {', '.join(missing)}; install {' '.join(packages)}. {problem}",
                    pytrace=False)
    return found  # type: ignore[return-value]

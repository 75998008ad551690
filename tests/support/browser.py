"""A real headless Chromium driven by selenium, for the customer's pages.

Chromium and its driver come from the system packages (Debian: ``chromium`` and
``chromium-driver``). When they are missing, the test's setup installs them with apt-get if it
runs as root; otherwise -- or if that fails -- the test FAILS naming the packages (never skips).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

PACKAGES = ("chromium", "chromium-driver")
# Where screenshots are kept for people to look at after a run (var/ is not committed).
ARTIFACTS = Path(__file__).resolve().parents[2] / "var" / "test-artifacts"


def ensure_system_packages(binaries: dict[str, str], packages: tuple[str, ...]) -> dict[str, str]:
    """Paths of ``binaries`` (name -> package); apt-get installs ``packages`` when one is missing."""
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


@contextmanager
def headless_chromium(width: int = 390, height: int = 844) -> Iterator:
    """A selenium WebDriver for headless Chromium, sized like a phone by default."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    paths = ensure_system_packages({"chromium": "chromium", "chromedriver": "chromium-driver"}, PACKAGES)
    options = webdriver.ChromeOptions()
    options.binary_location = paths["chromium"]
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     f"--window-size={width},{height}"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(executable_path=paths["chromedriver"]), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def screenshot(driver, name: str) -> Path:
    """Keep a screenshot under var/test-artifacts/ and return its path."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    assert driver.save_screenshot(str(path)), f"could not save {path}"
    return path

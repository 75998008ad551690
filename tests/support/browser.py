"""A real headless Chromium driven by selenium, for the customer's pages.

Chromium and its driver come from the system packages (Debian: ``chromium`` and
``chromium-driver``). When they are missing, the test's setup installs them with apt-get if it
runs as root; otherwise -- or if that fails -- the test FAILS naming the packages (never skips).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.provisioning import ensure_system_packages

PACKAGES = ("chromium", "chromium-driver")
# Where screenshots are kept for people to look at after a run (var/ is not committed).
ARTIFACTS = Path(__file__).resolve().parents[2] / "var" / "test-artifacts"


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

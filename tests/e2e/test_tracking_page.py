"""The live tracking page in a real headless Chromium: it follows an order to DELIVERED without a reload,
and its cancel button cancels an order still in the kitchen."""

from __future__ import annotations

import uuid

import pytest
import requests
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from common.devstack.platform import order_request
from tests.support.browser import headless_chromium, screenshot

pytestmark = pytest.mark.e2e

# Slow enough to watch the page move, and to cancel while the food is being prepared.
TIMINGS = {"PALMETTO_KITCHEN_ACCEPT_SECONDS": "1", "PALMETTO_KITCHEN_PREPARE_SECONDS": "8",
           "PALMETTO_COURIER_TRAVEL_SECONDS": "2"}


def register(api: str) -> tuple[str, str, requests.Session]:
    username, password = f"eve-{uuid.uuid4().hex[:8]}", f"pw-{uuid.uuid4().hex}"
    answer = requests.post(f"{api}/api/auth/register/", json={"username": username, "password": password}, timeout=10)
    assert answer.status_code == 201, answer.text
    http = requests.Session()
    http.headers["Authorization"] = f"Token {answer.json()['token']}"
    return username, password, http


def place(api: str, http: requests.Session, i: int) -> str:
    menu = http.get(f"{api}/api/menu/", timeout=10).json()
    answer = http.post(f"{api}/api/orders/", json=order_request(i, menu), timeout=10)
    assert answer.status_code == 201, answer.text
    return answer.json()["orderId"]


def log_in(driver, api: str, order_id: str, username: str, password: str) -> None:
    driver.get(f"{api}/track/{order_id}/")
    assert "/accounts/login/" in driver.current_url  # the page needs the customer's login
    driver.find_element(By.ID, "id_username").send_keys(username)
    driver.find_element(By.ID, "id_password").send_keys(password)
    driver.find_element(By.ID, "login").click()
    WebDriverWait(driver, 15).until(lambda d: d.current_url.endswith(f"/track/{order_id}/"))
    # The address changes when the navigation starts, before the page is there: wait for the page itself.
    WebDriverWait(driver, 15).until(lambda d: d.find_elements(By.ID, "status"))


# The page redraws its status as events arrive: an element found just before a redraw is stale by the
# time it is read, so a wait simply looks again.
REDRAWN = (StaleElementReferenceException,)


def shown_status(driver) -> str:
    return driver.find_element(By.ID, "status").get_attribute("data-status")


@pytest.mark.parametrize("platform", [TIMINGS], indirect=True)
def test_the_page_follows_an_order_to_delivered_by_itself_and_cancels_another(platform):
    username, password, http = register(platform.api)
    # The browser first: on a fresh machine starting it installs Chromium, which can take longer than
    # the order's whole lifecycle.
    with headless_chromium() as driver:
        order_id = place(platform.api, http, 1)
        log_in(driver, platform.api, order_id, username, password)
        first = shown_status(driver)
        assert first in ("PLACED", "ACCEPTED", "PREPARING"), first
        order = http.get(f"{platform.api}/api/orders/{order_id}/", timeout=10).json()
        assert all(item["name"] in driver.page_source for item in order["items"])
        assert driver.find_element(By.ID, "total").text == f"{order['grandTotal']} {order['currency']}"
        # A mark in the page's JavaScript state: a reload would wipe it.
        driver.execute_script("window.palmettoMark = 'still the same page';")
        seen = {first}

        def delivered(d) -> bool:
            seen.add(shown_status(d))
            return "DELIVERED" in seen

        WebDriverWait(driver, 90, poll_frequency=0.2, ignored_exceptions=REDRAWN).until(delivered)
        assert driver.execute_script("return window.palmettoMark") == "still the same page"
        assert len(seen) >= 3, f"the page jumped straight to the end: {seen}"
        steps = driver.find_elements(By.CSS_SELECTOR, "#timeline li")
        assert [li.get_attribute("data-status") for li in steps] == [
            "PLACED", "ACCEPTED", "PREPARING", "READY_FOR_DELIVERY", "OUT_FOR_DELIVERY", "DELIVERED"]
        assert all("done" in li.get_attribute("class") for li in steps)
        assert not driver.find_element(By.ID, "cancel-card").is_displayed()
        assert driver.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")
        shot = screenshot(driver, "tracking-page-delivered.png")
        assert shot.stat().st_size > 0

        # A second order, cancelled from the page while the kitchen prepares it.
        second = place(platform.api, http, 2)
        driver.get(f"{platform.api}/track/{second}/")
        WebDriverWait(driver, 30).until(lambda d: d.find_element(By.ID, "cancel-card").is_displayed())
        driver.find_element(By.ID, "cancel").click()
        WebDriverWait(driver, 60, poll_frequency=0.2, ignored_exceptions=REDRAWN).until(
            lambda d: shown_status(d) == "CANCELLED"
        )
        assert [li.get_attribute("data-status") for li in driver.find_elements(By.CSS_SELECTOR, "#timeline li")][-1] \
            == "CANCELLED"
        screenshot(driver, "tracking-page-cancelled.png")
    assert http.get(f"{platform.api}/api/orders/{second}/", timeout=10).json()["status"] == "CANCELLED"

"""A background stream of orders placed through the API of a running platform (:mod:`common.devstack.platform`)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import requests

from common.devstack.platform import Platform, order_request


class OrderStream:
    """Places orders through the API from a background thread and remembers every one acknowledged (201)."""

    def __init__(
        self,
        platform: Platform,
        interval: float = 0.05,
        *,
        customers: list[requests.Session] | None = None,
        payment: Callable[[int], dict | None] | None = None,
    ) -> None:
        """``customers`` take turns placing orders (default: one new customer); ``payment(i)`` is
        the ``payment`` of order ``i`` (default: none, which is cash on delivery)."""
        self.platform = platform
        self.interval = interval
        self.customers = customers or [platform.session()]
        self.payment = payment or (lambda i: None)
        self.http = self.customers[0]
        self.menu = self.http.get(f"{platform.api}/api/menu/", timeout=10).json()
        self.acknowledged: dict[str, str] = {}  # order id -> correlation id
        self.refused: dict[int, int] = {}  # status code -> count (5xx while a dependency is down)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._count = 0

    def _run(self) -> None:
        while not self._stop.is_set():
            self.place_one()
            self._stop.wait(self.interval)

    def place_one(self) -> None:
        self._count += 1
        body = order_request(self._count, self.menu)
        if (payment := self.payment(self._count)) is not None:
            body["payment"] = payment
        http = self.customers[self._count % len(self.customers)]
        try:
            response = http.post(f"{self.platform.api}/api/orders/", json=body, timeout=30)
        except requests.RequestException:
            self.refused[0] = self.refused.get(0, 0) + 1
            return
        if response.status_code == 201:
            body = response.json()
            self.acknowledged[body["orderId"]] = body["correlationId"]
        else:
            self.refused[response.status_code] = self.refused.get(response.status_code, 0) + 1

    def __enter__(self) -> OrderStream:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join(60)

    def wait_for(self, count: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while len(self.acknowledged) < count:
            assert time.monotonic() < deadline, f"only {len(self.acknowledged)} orders acknowledged in {timeout}s"
            time.sleep(0.05)

"""Paying for the pizza on the real platform: card orders charged before the kitchen starts,
declined ones rejected with the reason, cancelled ones refunded once, cash collected on delivery."""

from __future__ import annotations

import pytest

from common.deployment import NAMES
from common.devstack import stack
from common.devstack.invariants import Invariants
from common.devstack.kafka_tools import wait_for
from common.devstack.platform import order_request

pytestmark = pytest.mark.e2e


def _final(http, url: str, *statuses: str) -> dict:
    return wait_for(
        lambda: (o := http.get(url, timeout=10).json())["status"] in statuses and o, timeout=90,
        what=f"{url} {'/'.join(statuses)}",
    )


def _settled_payment(http, url: str, status: str) -> dict:
    return wait_for(
        lambda: (o := http.get(url, timeout=10).json())["payment"]["status"] == status and o, timeout=60,
        what=f"{url} payment {status}",
    )


def test_card_and_cash_orders_from_customers_with_and_without_balance(platform):
    rich, poor, cash = platform.session(), platform.session(), platform.session()
    platform.top_up(rich.username, "100.00")
    platform.top_up(poor.username, "1.00")
    menu = rich.get(f"{platform.api}/api/menu/", timeout=10).json()
    body = order_request(1, menu)

    assert cash.post(f"{platform.api}/api/orders/", json=body | {"payment": {"method": "card"}}, timeout=10).json()[
        "code"
    ] == "no_card"
    placed = {}
    for name, http, method in [("rich", rich, "card"), ("poor", poor, "card"), ("cash", cash, "cash")]:
        response = http.post(f"{platform.api}/api/orders/", json=body | {"payment": {"method": method}}, timeout=10)
        assert response.status_code == 201, response.text
        placed[name] = (http, f"{platform.api}/api/orders/{response.json()['orderId']}/", response.json())
    due = placed["rich"][2]["grandTotal"]

    http, url, _ = placed["rich"]
    order = _final(http, url, "DELIVERED", "REJECTED")
    assert order["status"] == "DELIVERED" and order["payment"]["status"] == "CHARGED"
    assert [h["kind"] for h in order["history"]][:2] == ["STATUS", "PAYMENT_CHARGED"]
    wallet = rich.get(f"{platform.api}/api/wallet/", timeout=10).json()
    assert float(wallet["balance"]) == pytest.approx(100 - float(due))
    entries = rich.get(f"{platform.api}/api/wallet/entries/", timeout=10).json()["results"]
    assert [(e["kind"], e["amount"]) for e in entries] == [("CHARGE", f"-{due}"), ("TOP_UP", "100.00")]

    http, url, _ = placed["poor"]
    order = _final(http, url, "DELIVERED", "REJECTED")
    assert order["status"] == "REJECTED" and order["payment"]["status"] == "DECLINED"
    rejected = [h for h in order["history"] if h["status"] == "REJECTED" and h["kind"] == "STATUS"]
    assert rejected[0]["reason"].startswith("payment declined: insufficient balance")
    assert poor.get(f"{platform.api}/api/wallet/", timeout=10).json()["balance"] == "1.00"

    http, url, _ = placed["cash"]
    _final(http, url, "DELIVERED", "REJECTED")
    order = _settled_payment(http, url, "COLLECTED")
    assert order["status"] == "DELIVERED"
    assert [h["kind"] for h in order["history"]].count("CASH_COLLECTED") == 1

    acknowledged = {o["orderId"]: o["correlationId"] for _, _, o in placed.values()}
    Invariants(platform).check(acknowledged)


@pytest.mark.parametrize("platform", [{"PALMETTO_KITCHEN_PREPARE_SECONDS": "600"}], indirect=True)
def test_a_cancelled_card_order_is_refunded_once(platform):
    http = platform.session()
    platform.top_up(http.username, "80.00")
    menu = http.get(f"{platform.api}/api/menu/", timeout=10).json()
    response = http.post(
        f"{platform.api}/api/orders/", json=order_request(2, menu) | {"payment": {"method": "card"}}, timeout=10
    )
    url = f"{platform.api}/api/orders/{response.json()['orderId']}/"
    wait_for(lambda: http.get(url, timeout=10).json()["status"] == "PREPARING", timeout=60, what="PREPARING")
    assert http.get(f"{platform.api}/api/wallet/", timeout=10).json()["balance"] != "80.00"
    assert http.post(f"{url}cancel/", json={"reason": "plans changed"}, timeout=10).status_code == 202
    _final(http, url, "CANCELLED")
    order = _settled_payment(http, url, "REFUNDED")
    assert [h["kind"] for h in order["history"]].count("PAYMENT_REFUNDED") == 1
    assert http.get(f"{platform.api}/api/wallet/", timeout=10).json()["balance"] == "80.00"
    kinds = [e["kind"] for e in http.get(f"{platform.api}/api/wallet/entries/", timeout=10).json()["results"]]
    assert kinds == ["REFUND", "CHARGE", "TOP_UP"]
    # Reconciling re-publishes each service's latest event of the order: no second refund.
    for service in NAMES:
        stack.manage(service, "reconcile", "--older-than", "0", env=platform.env)
    Invariants(platform).check({order["orderId"]: order["correlationId"]})
    assert [h["kind"] for h in http.get(url, timeout=10).json()["history"]].count("PAYMENT_REFUNDED") == 1
    assert http.get(f"{platform.api}/api/wallet/", timeout=10).json()["balance"] == "80.00"

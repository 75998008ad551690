"""Money under faults: card orders charged and declined, cancellations refunded, cash collected,
while every service's consumers are SIGKILLed at random moments."""

from __future__ import annotations

import random
import time

import pytest

from common.deployment import NAMES
from common.devstack.invariants import Invariants
from tests.support.platform import OrderStream

pytestmark = pytest.mark.faults


@pytest.mark.parametrize("platform", [{"PALMETTO_KITCHEN_PREPARE_SECONDS": "2"}], indirect=True)
def test_card_orders_declines_and_cancellations_with_consumers_killed(platform):
    rng = random.Random(20261123)
    rich = [platform.session() for _ in range(3)]
    poor = [platform.session() for _ in range(2)]
    for customer in rich:
        platform.top_up(customer.username, "5000.00")
    for customer in poor:
        platform.top_up(customer.username, "30.00")  # enough for an order or two, then declined
    cash_only = platform.session()
    customers = [*rich, *poor, cash_only]

    def payment(i: int) -> dict:
        card = customers[i % len(customers)] is not cash_only and i % 4 != 0
        return {"method": "card" if card else "cash"}

    staff = platform.session(staff=True)
    cancels: dict[int, int] = {}
    with OrderStream(platform, customers=customers, payment=payment) as stream:
        for _ in range(2):
            for service in NAMES:
                time.sleep(rng.uniform(0.2, 1.0))
                platform.kill_consumers(service)
                for order_id in rng.sample(sorted(stream.acknowledged), k=min(3, len(stream.acknowledged))):
                    answer = staff.post(f"{platform.api}/api/orders/{order_id}/cancel/", timeout=10).status_code
                    cancels[answer] = cancels.get(answer, 0) + 1
                time.sleep(rng.uniform(0.0, 0.5))
                platform.start_consumers(service)
        stream.wait_for(50)
    report = Invariants(platform).check(stream.acknowledged, settle_timeout=120)
    print("payment figures:", report.figures, "cancellations:", cancels)
    outcomes = " ".join(report.figures["payments"])
    assert "CARD DELIVERED CHARGED" in outcomes and "CASH DELIVERED COLLECTED" in outcomes
    assert "CARD REJECTED DECLINED" in outcomes
    assert "CARD CANCELLED REFUNDED" in outcomes or "CARD CANCELLED VOIDED" in outcomes

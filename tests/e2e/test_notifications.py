"""Customer emails through a real SMTP server: the whole sequence arrives exactly once, even when the
mail server is stopped mid-stream and started again."""

from __future__ import annotations

import collections
import time
import uuid

import pytest
import requests

from common.devstack.kafka_tools import wait_for
from common.devstack.platform import order_request, running_platform
from common.devstack.ports import free_port
from tests.e2e.test_observability import scrape, total
from tests.support.smtp import MailServer

pytestmark = pytest.mark.e2e

DELIVERED_SEQUENCE = ["ACCEPTED", "OUT_FOR_DELIVERY", "DELIVERED"]


def customer(api: str, address: str) -> requests.Session:
    name = f"mail-{uuid.uuid4().hex[:8]}"
    answer = requests.post(f"{api}/api/auth/register/", timeout=10,
                           json={"username": name, "password": f"pw-{uuid.uuid4().hex}", "email": address})
    assert answer.status_code == 201, answer.text
    http = requests.Session()
    http.headers["Authorization"] = f"Token {answer.json()['token']}"
    return http


def test_every_email_arrives_exactly_once_across_a_mail_server_outage(kafka_bootstrap, database_factory, tmp_path):
    mail = MailServer(free_port())
    mail.start()
    overrides = {"EMAIL_HOST": mail.host, "EMAIL_PORT": str(mail.port), "EMAIL_TIMEOUT": "5",
                 "DEFAULT_FROM_EMAIL": "Palmetto <orders@palmetto.test>"}
    try:
        with running_platform(kafka_bootstrap, database_factory, tmp_path, overrides) as platform:
            http = customer(platform.api, "ada@example.org")
            menu = http.get(f"{platform.api}/api/menu/", timeout=10).json()
            expected: dict[str, list[str]] = {}

            def place(i: int, body: dict | None = None, statuses: list[str] = DELIVERED_SEQUENCE) -> None:
                answer = http.post(f"{platform.api}/api/orders/", json=body or order_request(i, menu), timeout=10)
                assert answer.status_code == 201, answer.text
                expected[answer.json()["orderId"]] = statuses

            for i in range(5):
                place(i)
            # Mid-stream: some emails are out, not all of them, when the server goes down.
            wait_for(lambda: len(mail.messages) >= 3, timeout=60, what="the first emails")
            mail.stop()
            received_before_outage = len(mail.messages)
            for i in range(5, 10):
                place(i)
            place(99, {**order_request(99, menu), "items": [{"itemId": menu[0]["itemId"], "quantity": 41}]},
                  ["REJECTED"])

            def finished() -> bool:
                url = f"{platform.api}/api/orders"
                statuses = [http.get(f"{url}/{oid}/", timeout=10).json()["status"] for oid in expected]
                return set(statuses) <= {"DELIVERED", "REJECTED"}

            wait_for(finished, timeout=120, interval=0.5, what="every order delivered or rejected")
            mailer = f"http://127.0.0.1:{platform.metrics_ports['client']}/metrics"
            wait_for(lambda: total(scrape(mailer), "palmetto_email_send_failures_total") >= 2, timeout=60,
                     what="the mailer failing against the stopped server")
            assert total(scrape(mailer), "palmetto_job_backlog_rows", job="mailer") > 0
            assert len(mail.messages) == received_before_outage
            mail.start()

            want = sum(len(statuses) for statuses in expected.values())
            wait_for(lambda: len(mail.messages) >= want, timeout=120, interval=0.5,
                     what=f"all {want} emails after the server came back")
            time.sleep(3)  # anything sent twice would arrive now
            messages = mail.messages
            got = collections.Counter((m["X-Palmetto-Order"], m["X-Palmetto-Status"]) for m in messages)
            assert got == collections.Counter({(oid, s): 1 for oid, statuses in expected.items() for s in statuses})
            for message in messages:
                assert message["To"] == "ada@example.org" and "orders@palmetto.test" in message["From"]
            rejected = next(m for m in messages if m["X-Palmetto-Status"] == "REJECTED")
            assert "41 items exceed the kitchen's 40 per order" in rejected.get_payload()
            sequence = [(m["X-Palmetto-Order"], m["X-Palmetto-Status"]) for m in messages]
            for oid, statuses in expected.items():  # each order's emails in lifecycle order
                assert [s for o, s in sequence if o == oid] == statuses, f"emails of {oid} out of order"
            assert total(scrape(mailer), "palmetto_emails_sent_total") == want
    finally:
        mail.stop()

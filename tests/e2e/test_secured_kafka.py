"""The platform on a secured broker: SASL/SCRAM-SHA-512, the standard authorizer, one principal per service.

Proves what the issue asked: the whole lifecycle works with per-service
credentials and the ACLs of ``common/kafka/acl.py``; a client without
credentials, another service's principal and an unknown principal are refused;
a write the broker refuses is kept, logged as an error and shown by ``/readyz``.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator

import pytest
import requests
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition

from common.devstack import stack
from common.devstack.kafka_broker import KafkaBroker
from common.devstack.kafka_tools import wait_for
from common.devstack.platform import Platform, order_request, running_platform
from common.kafka.acl import principal_name
from common.topics import NOTIFICATIONS, ORDERS, consumer_group
from tests.support.provisioning import or_fail

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def secured_broker() -> Iterator[KafkaBroker]:
    broker = KafkaBroker(secured=True)
    with or_fail("a secured Kafka broker"):
        broker.start()
    yield broker
    broker.stop()


@pytest.fixture(scope="module")
def secured(secured_broker: KafkaBroker, database_factory, tmp_path_factory) -> Iterator[Platform]:
    with running_platform(
        secured_broker.bootstrap_servers,
        database_factory,
        tmp_path_factory.mktemp("secured"),
        kafka_admin_env=secured_broker.client_environment,
    ) as platform:
        yield platform


def sasl(user: str | None, password: str | None) -> dict[str, str]:
    if user is None:
        return {}
    return {
        "security.protocol": "sasl_plaintext",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": user,
        "sasl.password": password or "",
    }


def credentials(platform: Platform, principal: str) -> dict[str, str]:
    env = platform.env_for(principal)
    return sasl(env["KAFKA_SASL_USERNAME"], env["KAFKA_SASL_PASSWORD"])


def try_produce(bootstrap: str, topic: str, settings: dict[str, str], value: bytes = b"{}") -> KafkaError | None:
    """Produce one message as a third-party client would; the delivery error, or None when the broker took it."""
    producer = Producer({"bootstrap.servers": bootstrap, "message.timeout.ms": 6000, "log_level": 0} | settings)
    outcome: list[KafkaError | None] = []
    producer.produce(topic, key=b"forged", value=value, on_delivery=lambda err, _msg: outcome.append(err))
    producer.flush(15)
    return outcome[0] if outcome else KafkaError(KafkaError._MSG_TIMED_OUT)


def try_read(bootstrap: str, topic: str, settings: dict[str, str], group: str | None = None) -> KafkaError | None:
    """Fetch from partition 0 of ``topic`` (as ``group``, default a throwaway one; nothing is committed);
    the first error, or None when a fetch worked."""
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": group or f"palmetto-readonly-{uuid.uuid4()}", "log_level": 0,
         "enable.auto.commit": False, "auto.offset.reset": "earliest",
         "enable.partition.eof": True} | settings  # an empty partition answers EOF: a fetch that worked
    )  # fmt: skip
    try:
        consumer.assign([TopicPartition(topic, 0, 0)])
        for _ in range(40):
            message = consumer.poll(0.5)
            if message is not None and message.error() is not None:
                if message.error().code() == KafkaError._PARTITION_EOF:
                    return None
                return message.error()
            if message is not None:
                return None
        return KafkaError(KafkaError._TIMED_OUT)
    finally:
        consumer.close()


def orders_end(platform: Platform, broker: KafkaBroker) -> int:
    consumer = Consumer(
        {"bootstrap.servers": platform.bootstrap, "group.id": f"palmetto-readonly-{uuid.uuid4()}"}
        | broker.client_settings
    )
    try:
        topic = ORDERS.full_name(platform.prefix)
        return sum(consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in range(3))
    finally:
        consumer.close()


def place_order(platform: Platform, http: requests.Session) -> dict:
    menu = http.get(f"{platform.api}/api/menu/", timeout=10).json()
    response = http.post(f"{platform.api}/api/orders/", json=order_request(1, menu), timeout=10)
    assert response.status_code == 201, response.text
    return response.json()


def status_of(platform: Platform, http: requests.Session, order_id: str) -> str:
    return http.get(f"{platform.api}/api/orders/{order_id}/", timeout=10).json()["status"]


def test_the_order_lifecycle_works_with_per_service_credentials(secured: Platform):
    for service in ("client", "palmetto", "courier"):
        assert secured.env_for(service)["KAFKA_SASL_USERNAME"] == principal_name(secured.prefix, service)
    http = secured.session()
    orders = [place_order(secured, http) for _ in range(3)]
    for order in orders:
        wait_for(lambda o=order: status_of(secured, http, o["orderId"]) == "DELIVERED", timeout=90, interval=0.5,
                 what=f"order {order['orderId']} DELIVERED on the secured broker")  # fmt: skip
    assert requests.get(f"{secured.api}/readyz", timeout=10).status_code == 200
    # The staff endpoint reads topics with the Client App's principal.
    staff = secured.session(staff=True)
    scan = staff.get(f"{secured.api}/api/topics/orders/order-ids/", timeout=30).json()
    assert {o["orderId"] for o in orders} <= {o["orderId"] for o in scan["orderIds"]}
    # Operator commands log in as the operator principal.
    lag = stack.manage("palmetto", "consumerlag", "--json", env=secured.env_for("operator"))
    assert json.loads(lag.stdout), lag.stdout


def test_a_client_without_credentials_is_refused(secured: Platform, secured_broker: KafkaBroker):
    before = orders_end(secured, secured_broker)
    error = try_produce(secured.bootstrap, ORDERS.full_name(secured.prefix), {})
    assert error is not None, "a PLAINTEXT client without credentials got a message into orders"
    assert orders_end(secured, secured_broker) == before


def test_the_courier_principal_cannot_write_orders(secured: Platform, secured_broker: KafkaBroker):
    before = orders_end(secured, secured_broker)
    error = try_produce(secured.bootstrap, ORDERS.full_name(secured.prefix), credentials(secured, "courier"))
    assert error is not None and error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, error
    assert orders_end(secured, secured_broker) == before
    # Nor can the kitchen, which only reads orders.
    error = try_produce(secured.bootstrap, ORDERS.full_name(secured.prefix), credentials(secured, "palmetto"))
    assert error is not None and error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, error
    # The kitchen may write its own dead-letter topic: the refusals above are the ACLs at work, not the login.
    assert try_produce(secured.bootstrap, ORDERS.dlt_name(secured.prefix), credentials(secured, "palmetto")) is None


def test_an_unknown_principal_cannot_read_notifications(secured: Platform):
    topic = NOTIFICATIONS.full_name(secured.prefix)
    unknown = try_read(secured.bootstrap, topic, sasl(f"intruder-{uuid.uuid4().hex[:6]}", "guess"))
    assert unknown is not None, "an unknown principal read notifications"
    # A known principal without a read grant on notifications (the kitchen, in its own group) is refused
    # by the authorizer.
    kitchen = try_read(
        secured.bootstrap, topic, credentials(secured, "palmetto"), group=consumer_group(secured.prefix, "palmetto")
    )
    assert kitchen is not None and kitchen.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, kitchen
    courier = consumer_group(secured.prefix, "courier")
    assert try_read(secured.bootstrap, topic, credentials(secured, "courier"), group=courier) is None


def test_a_refused_write_is_kept_logged_and_shown_by_readyz(secured: Platform, secured_broker: KafkaBroker):
    """The Client App's workers misconfigured with the courier's credentials: orders wait, loudly."""
    secured.stop_consumers("client")
    wrong = secured.env_for("client") | {
        key: secured.env_for("courier")[key] for key in ("KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD")
    }
    log = secured.logs / "client-consumers.log"
    with open(log, "a") as output:
        secured.consumers["client"] = stack.spawn_consumers("client", wrong, output)
    http = secured.session()
    before = orders_end(secured, secured_broker)
    order = place_order(secured, http)
    wait_for(lambda: "TOPIC_AUTHORIZATION_FAILED" in log.read_text(), timeout=60, what="the refusal in the log")
    refusal = next(line for line in log.read_text().splitlines() if "TOPIC_AUTHORIZATION_FAILED" in line)
    assert " ERROR " in refusal and "kept unsent" in refusal, refusal
    ready = requests.get(f"{secured.api}/readyz", timeout=10)
    assert ready.status_code == 503 and "outbox" in ready.json()["errors"], ready.text
    assert "orders" in ready.json()["errors"]["outbox"][0]
    assert orders_end(secured, secured_broker) == before
    assert status_of(secured, http, order["orderId"]) == "PLACED"

    # With the right credentials the kept event is published and the order goes its way.
    secured.stop_consumers("client")
    secured.start_consumers("client")
    wait_for(lambda: status_of(secured, http, order["orderId"]) == "DELIVERED", timeout=90, interval=0.5,
             what="the kept order DELIVERED once the credentials are fixed")  # fmt: skip
    assert requests.get(f"{secured.api}/readyz", timeout=10).status_code == 200


def test_kafkasecurity_is_idempotent(secured: Platform):
    again = stack.manage("client", "kafkasecurity", env=secured.env)  # the super user; no passwords: users kept
    assert "ACL bindings" in again.stdout
    with pytest.raises(subprocess.CalledProcessError):
        # An operator cannot hand out rights: only a super user may create ACLs.
        stack.manage("client", "kafkasecurity", env=secured.env_for("operator"))

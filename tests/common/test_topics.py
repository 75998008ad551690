"""Topics are data, and every service's consumer declaration agrees with it."""

from client_app.orders.declaration import SERVICE as CLIENT
from common.events import REGISTRY
from common.topics import NOTIFICATIONS, ORDERS, PARTITIONS, TOPICS, all_topic_names, consumer_group
from courier_app.delivery.declaration import SERVICE as COURIER
from palmetto_app.kitchen.declaration import SERVICE as PALMETTO

SERVICES = (CLIENT, PALMETTO, COURIER)


def test_each_topic_has_three_partitions():
    assert all(t.partitions == PARTITIONS == 3 for t in TOPICS)


def test_services_consume_exactly_what_the_topic_table_says():
    for topic in TOPICS:
        consumers = {s.name for s in SERVICES if any(sub.topic == topic for sub in s.subscriptions)}
        assert consumers == set(topic.consumers), topic.name


def test_client_consumes_notifications_and_orders_palmetto_orders_courier_notifications():
    assert [s.topic for s in CLIENT.subscriptions] == [NOTIFICATIONS, ORDERS]
    assert [s.topic for s in PALMETTO.subscriptions] == [ORDERS]
    assert [s.topic for s in COURIER.subscriptions] == [NOTIFICATIONS]


def test_every_event_is_carried_by_a_declared_topic():
    assert {cls.topic for cls in REGISTRY.values()} <= set(TOPICS)


def test_names_take_the_prefix_and_dead_letter_topics_exist():
    assert all_topic_names("t1.") == ["t1.orders", "t1.orders.DLT", "t1.notifications", "t1.notifications.DLT"]
    assert consumer_group("t1.", "client") == "t1.palmetto-client"

"""The Client App applies only forward status moves; duplicates and stale events change nothing."""

from __future__ import annotations

import uuid

import pytest

from client_app.orders.models import Order
from common.errors import InvalidEvent
from common.lifecycle import Status
from tests.support.factories import apply_status, place_order

pytestmark = pytest.mark.django_db
S = Status


@pytest.fixture
def order() -> Order:
    return place_order()


def apply(order: Order, status: Status, sequence: int, **kw) -> bool:
    return apply_status(order.id, order.correlation_id, status, sequence, **kw)


def history(order: Order) -> list[str]:
    return list(order.history.order_by("sequence").values_list("status", flat=True))


def test_full_lifecycle_builds_an_ordered_history(order):
    for seq, status in enumerate([S.ACCEPTED, S.PREPARING, S.READY_FOR_DELIVERY, S.OUT_FOR_DELIVERY, S.DELIVERED], 1):
        assert apply(order, status, seq)
    order.refresh_from_db()
    assert order.status == S.DELIVERED and order.status_sequence == 5
    assert history(order) == ["PLACED", "ACCEPTED", "PREPARING", "READY_FOR_DELIVERY", "OUT_FOR_DELIVERY", "DELIVERED"]
    assert order.history.get(status=S.OUT_FOR_DELIVERY).courier == "Rosa"


def test_duplicates_and_stale_events_change_nothing(order):
    assert apply(order, S.ACCEPTED, 1)
    assert apply(order, S.PREPARING, 2)
    assert not apply(order, S.ACCEPTED, 1)  # duplicate of an older change
    assert not apply(order, S.PREPARING, 2)  # same change again, new event id
    assert apply(order, S.DELIVERED, 5)
    assert not apply(order, S.PREPARING, 2)  # a PREPARING after DELIVERED
    assert not apply(order, S.OUT_FOR_DELIVERY, 4)  # late OUT_FOR_DELIVERY
    order.refresh_from_db()
    assert order.status == S.DELIVERED
    assert history(order) == ["PLACED", "ACCEPTED", "PREPARING", "DELIVERED"]


def test_higher_sequence_with_an_illegal_move_is_ignored(order):
    assert apply(order, S.ACCEPTED, 1)
    assert apply(order, S.READY_FOR_DELIVERY, 3)
    assert not apply(order, S.CANCELLED, 4)  # too late to cancel once ready
    order.refresh_from_db()
    assert order.status == S.READY_FOR_DELIVERY


def test_rejection_is_recorded_with_its_reason(order):
    assert apply(order, S.REJECTED, 1, reason="no mozzarella")
    order.refresh_from_db()
    assert order.status == S.REJECTED
    assert order.history.get(status=S.REJECTED).reason == "no mozzarella"


def test_event_for_an_unknown_order_is_invalid():
    with pytest.raises(InvalidEvent, match="no order"):
        apply_status(uuid.uuid4(), "x", S.ACCEPTED, 1)


def test_event_whose_correlation_id_disagrees_is_invalid(order):
    with pytest.raises(InvalidEvent, match="correlation ID"):
        apply_status(order.id, "someone-else", S.ACCEPTED, 1)


def test_a_status_change_is_one_round_trip(order, django_assert_num_queries):
    # The conditional UPDATE and the history row in one statement; ACCEPTED is emailed, but the order's
    # customer has no email address, which that statement says, so the order is not read back.
    with django_assert_num_queries(1):
        assert apply(order, S.ACCEPTED, 1)
    with django_assert_num_queries(1):
        assert apply(order, S.PREPARING, 2)
    with django_assert_num_queries(2):  # a stale change: the statement moves nothing; the order is read to say why
        assert not apply(order, S.ACCEPTED, 1)
    order.refresh_from_db()
    assert order.status == S.PREPARING and order.status_sequence == 2
    assert [(h.status, h.sequence) for h in order.history.order_by("sequence")] == [
        (S.PLACED, 0), (S.ACCEPTED, 1), (S.PREPARING, 2)
    ]

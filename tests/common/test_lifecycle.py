"""The lifecycle: only forward moves, side exits only while the kitchen still can, terminals absorb;
every status reachable and announced only by its owner."""

import uuid

import pytest

from common import deployment
from common.config import Timings
from common.deployment import CLIENT, COURIER, PALMETTO
from common.lifecycle import (
    ANNOUNCED_BY,
    CANCELLABLE,
    COURIER_STEPS,
    KITCHEN_STEPS,
    TERMINAL,
    Status,
    announced_by,
    can_move,
)
from common.models import OutboxMessage
from common.publishing import Publisher

S = Status


@pytest.mark.parametrize(
    "current,new",
    [
        (S.PLACED, S.ACCEPTED),
        (S.ACCEPTED, S.PREPARING),
        (S.PREPARING, S.READY_FOR_DELIVERY),
        (S.READY_FOR_DELIVERY, S.OUT_FOR_DELIVERY),
        (S.OUT_FOR_DELIVERY, S.DELIVERED),
        (S.PLACED, S.DELIVERED),  # skipping ahead converges after a lost event
        (S.PLACED, S.REJECTED),
        (S.ACCEPTED, S.REJECTED),
        (S.PREPARING, S.CANCELLED),
    ],
)
def test_legal_moves(current, new):
    assert can_move(current, new)


@pytest.mark.parametrize(
    "current,new",
    [
        (S.ACCEPTED, S.ACCEPTED),  # duplicate
        (S.DELIVERED, S.PREPARING),  # stale
        (S.OUT_FOR_DELIVERY, S.OUT_FOR_DELIVERY),
        (S.PREPARING, S.ACCEPTED),
        (S.READY_FOR_DELIVERY, S.CANCELLED),  # too late to cancel
        (S.PREPARING, S.REJECTED),
        (S.REJECTED, S.ACCEPTED),
        (S.CANCELLED, S.READY_FOR_DELIVERY),
        (S.ACCEPTED, S.PLACED),
    ],
)
def test_illegal_moves(current, new):
    assert not can_move(current, new)


def test_terminal_statuses_absorb_everything():
    for terminal in TERMINAL:
        assert not any(can_move(terminal, new) for new in Status)


def test_every_status_has_one_announcing_service():
    assert set(ANNOUNCED_BY) == set(Status)


def _reachable(start: Status) -> set[Status]:
    seen, frontier = {start}, [start]
    while frontier:
        current = frontier.pop()
        for new in Status:
            if new not in seen and can_move(current, new):
                seen.add(new)
                frontier.append(new)
    return seen


def test_every_status_is_reachable_from_placed():
    assert _reachable(S.PLACED) == set(Status)


def test_each_services_statuses_are_its_own():
    assert announced_by(CLIENT.name) == (S.PLACED,)
    assert announced_by(PALMETTO.name) == (S.ACCEPTED, S.PREPARING, S.READY_FOR_DELIVERY, S.REJECTED, S.CANCELLED)
    assert announced_by(COURIER.name) == (S.OUT_FOR_DELIVERY, S.DELIVERED)


@pytest.mark.parametrize("steps,owner", [(KITCHEN_STEPS, PALMETTO.name), (COURIER_STEPS, COURIER.name)])
def test_timed_steps_are_legal_moves_between_the_owners_statuses(steps, owner):
    for status, step in steps.items():
        assert step.status == status
        assert ANNOUNCED_BY[step.status] == ANNOUNCED_BY[step.next] == owner
        assert can_move(step.status, step.next)


def test_step_durations_come_from_the_timings():
    timings = Timings(kitchen_accept_to_prepare=1.5, kitchen_prepare=6.0, courier_travel=8.0)
    assert [step.seconds(timings) for step in KITCHEN_STEPS.values()] == [1.5, 6.0]
    assert COURIER_STEPS[S.OUT_FOR_DELIVERY].seconds(timings) == 8.0


def test_cancellation_ends_where_the_food_is_ready():
    assert CANCELLABLE == {S.PLACED, S.ACCEPTED, S.PREPARING}
    assert all(can_move(status, S.CANCELLED) == (status in CANCELLABLE) for status in Status)


@pytest.mark.parametrize("service", deployment.SERVICES, ids=lambda s: s.name)
def test_a_service_may_announce_only_its_own_statuses(service):
    publisher = Publisher(service, OutboxMessage)  # refuses before it writes anything
    for status in Status:
        if ANNOUNCED_BY[status] != service.name:
            with pytest.raises(ValueError, match=f"{service.name} may not announce {status}"):
                publisher.announce(status, order_id=uuid.uuid4(), correlation_id="c-1", sequence=1)


@pytest.mark.django_db
def test_the_owner_announces_its_status():
    from palmetto_app.kitchen.models import OutboxMessage as KitchenOutbox

    envelope = Publisher(PALMETTO, KitchenOutbox).announce(S.ACCEPTED, order_id=uuid.uuid4(), correlation_id="c-1",
                                                           sequence=1)
    row = KitchenOutbox.objects.get(event_id=envelope.event_id)
    assert (row.topic, row.event_type, envelope.source) == ("notifications", "OrderStatusChanged", "palmetto")

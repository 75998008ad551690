"""Status rules: only forward moves, side exits only while the kitchen still can, terminals absorb."""

import pytest

from common.lifecycle import ANNOUNCED_BY, TERMINAL, Status, can_move

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

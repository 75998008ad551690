"""The order lifecycle: statuses, who may set them, and which moves are legal.

``PLACED`` (client) -> ``ACCEPTED`` -> ``PREPARING`` -> ``READY_FOR_DELIVERY``
(palmetto) -> ``OUT_FOR_DELIVERY`` -> ``DELIVERED`` (courier), with the side
exits ``REJECTED`` and ``CANCELLED``. Terminal statuses absorb everything.
"""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    PLACED = "PLACED"
    ACCEPTED = "ACCEPTED"
    PREPARING = "PREPARING"
    READY_FOR_DELIVERY = "READY_FOR_DELIVERY"
    OUT_FOR_DELIVERY = "OUT_FOR_DELIVERY"
    DELIVERED = "DELIVERED"
    REJECTED = "REJECTED"
    CANCELLED = "CANCELLED"


TERMINAL = frozenset({Status.DELIVERED, Status.REJECTED, Status.CANCELLED})

# Legal next statuses. Skipping forward is legal on purpose: with acks=1 an
# event can be lost and re-published later, so the client may see a later
# status before an earlier one and must still converge on the latest.
_MAIN_LINE = (
    Status.PLACED,
    Status.ACCEPTED,
    Status.PREPARING,
    Status.READY_FOR_DELIVERY,
    Status.OUT_FOR_DELIVERY,
    Status.DELIVERED,
)
# The kitchen decides on rejection and cancellation; once the food is ready
# it is too late for either.
_SIDE_EXITS_FROM = {
    Status.REJECTED: frozenset({Status.PLACED, Status.ACCEPTED}),
    Status.CANCELLED: frozenset({Status.PLACED, Status.ACCEPTED, Status.PREPARING}),
}

# Which service announces which status.
ANNOUNCED_BY = {
    Status.PLACED: "client",
    Status.ACCEPTED: "palmetto",
    Status.PREPARING: "palmetto",
    Status.READY_FOR_DELIVERY: "palmetto",
    Status.REJECTED: "palmetto",
    Status.CANCELLED: "palmetto",
    Status.OUT_FOR_DELIVERY: "courier",
    Status.DELIVERED: "courier",
}


def can_move(current: Status, new: Status) -> bool:
    """True when an order in ``current`` may move to ``new`` (never backwards, never to itself)."""
    if current in TERMINAL or current == new:
        return False
    if new in _SIDE_EXITS_FROM:
        return current in _SIDE_EXITS_FROM[new]
    if current not in _MAIN_LINE or new not in _MAIN_LINE:
        return False
    return _MAIN_LINE.index(new) > _MAIN_LINE.index(current)

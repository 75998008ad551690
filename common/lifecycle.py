"""The order lifecycle, stated once: every status, who announces it, the legal moves, each
service's timed steps and until when an order can still be cancelled.

``PLACED`` (client) -> ``ACCEPTED`` -> ``PREPARING`` -> ``READY_FOR_DELIVERY``
(palmetto) -> ``OUT_FOR_DELIVERY`` -> ``DELIVERED`` (courier), with the side
exits ``REJECTED`` and ``CANCELLED``. Terminal statuses absorb everything.

Where each status is set:

* ``PLACED``: ``client_app.orders.services.placing.order_place``.
* ``ACCEPTED``, ``REJECTED``, ``CANCELLED``: ``palmetto_app.kitchen.services.ticket_open`` and
  ``ticket_cancel``; ``PREPARING`` and ``READY_FOR_DELIVERY``: the kitchen's timer,
  ``tickets_advance_due``, following :data:`KITCHEN_STEPS`.
* ``OUT_FOR_DELIVERY``: ``courier_app.delivery.services.deliveries_dispatch`` (when a courier is
  free); ``DELIVERED``: the courier's timer, ``deliveries_complete_due``, following :data:`COURIER_STEPS`.

Each service announces a status through its bound publisher (:class:`common.outbox.Publisher`),
which refuses a status :data:`ANNOUNCED_BY` does not give to that service.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from operator import attrgetter

from common.deployment import CLIENT, COURIER, PALMETTO


class Status(StrEnum):
    PLACED = "PLACED"
    ACCEPTED = "ACCEPTED"
    PREPARING = "PREPARING"
    READY_FOR_DELIVERY = "READY_FOR_DELIVERY"
    OUT_FOR_DELIVERY = "OUT_FOR_DELIVERY"
    DELIVERED = "DELIVERED"
    REJECTED = "REJECTED"
    CANCELLED = "CANCELLED"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()


TERMINAL = frozenset({Status.DELIVERED, Status.REJECTED, Status.CANCELLED})

# Which service announces which status; no other service may.
ANNOUNCED_BY: Mapping[Status, str] = {
    Status.PLACED: CLIENT.name,
    Status.ACCEPTED: PALMETTO.name,
    Status.PREPARING: PALMETTO.name,
    Status.READY_FOR_DELIVERY: PALMETTO.name,
    Status.REJECTED: PALMETTO.name,
    Status.CANCELLED: PALMETTO.name,
    Status.OUT_FOR_DELIVERY: COURIER.name,
    Status.DELIVERED: COURIER.name,
}


def announced_by(service: str) -> tuple[Status, ...]:
    """The statuses ``service`` announces, in lifecycle order."""
    return tuple(status for status in Status if ANNOUNCED_BY[status] == service)


# The kitchen decides on rejection and cancellation. It can refuse an order it has not started
# cooking; the customer can cancel until the food is ready -- after that it is too late for either.
REJECTABLE = frozenset({Status.PLACED, Status.ACCEPTED})
CANCELLABLE = frozenset({Status.PLACED, Status.ACCEPTED, Status.PREPARING})

# Legal forward moves along the main line. Skipping forward is legal on purpose: with acks=1 an
# event can be lost and re-published later, so the client may see a later status before an
# earlier one and must still converge on the latest.
MAIN_LINE = (
    Status.PLACED,
    Status.ACCEPTED,
    Status.PREPARING,
    Status.READY_FOR_DELIVERY,
    Status.OUT_FOR_DELIVERY,
    Status.DELIVERED,
)
_SIDE_EXITS_FROM = {Status.REJECTED: REJECTABLE, Status.CANCELLED: CANCELLABLE}
# The ways an order fails: off the main line, for good.
SIDE_EXITS = frozenset(_SIDE_EXITS_FROM)


def can_move(current: Status, new: Status) -> bool:
    """True when an order in ``current`` may move to ``new`` (never backwards, never to itself)."""
    if current in TERMINAL or current == new:
        return False
    if new in _SIDE_EXITS_FROM:
        return current in _SIDE_EXITS_FROM[new]
    if current not in MAIN_LINE or new not in MAIN_LINE:
        return False
    return MAIN_LINE.index(new) > MAIN_LINE.index(current)


@dataclass(frozen=True)
class Step:
    """A move a service makes by itself, on a durable timer: ``after(timings)`` seconds in ``status``
    and the order moves on to ``next``. Durations come from :class:`common.config.Timings`."""

    status: Status
    next: Status
    after: Callable[[object], float]

    def seconds(self, timings: object) -> float:
        return self.after(timings)


def _steps(*steps: Step) -> Mapping[Status, Step]:
    return {step.status: step for step in steps}


# The kitchen: an ACCEPTED ticket starts PREPARING after kitchen_accept_to_prepare seconds and is
# READY_FOR_DELIVERY kitchen_prepare seconds later.
KITCHEN_STEPS = _steps(
    Step(Status.ACCEPTED, Status.PREPARING, attrgetter("kitchen_accept_to_prepare")),
    Step(Status.PREPARING, Status.READY_FOR_DELIVERY, attrgetter("kitchen_prepare")),
)
# The courier: a delivery goes OUT_FOR_DELIVERY when a courier is free (not timed), and is
# DELIVERED courier_travel seconds later.
COURIER_STEPS = _steps(
    Step(Status.OUT_FOR_DELIVERY, Status.DELIVERED, attrgetter("courier_travel")),
)


# --------------------------------------------------------------------------- payments


class PaymentMethod(StrEnum):
    CARD = "CARD"  # the customer's Palmetto card (stored value), charged before the kitchen starts
    CASH = "CASH"  # paid to the courier on delivery


class PaymentStatus(StrEnum):
    """Where an order's payment stands. Card: ``PENDING`` -> ``CHARGED`` | ``DECLINED``, and
    ``CHARGED`` -> ``REFUNDED`` when the order ends CANCELLED or REJECTED; ``PENDING`` ->
    ``VOIDED`` when the order ended before the charge was decided (nothing charged). Cash:
    ``DUE_ON_DELIVERY`` -> ``COLLECTED`` when the courier delivered it.

    Set by ``client_app.payments.services`` only (the Client App holds the money).
    """

    PENDING = "PENDING"
    CHARGED = "CHARGED"
    DECLINED = "DECLINED"
    REFUNDED = "REFUNDED"
    VOIDED = "VOIDED"
    DUE_ON_DELIVERY = "DUE_ON_DELIVERY"
    COLLECTED = "COLLECTED"


PAYMENT_MOVES: Mapping[PaymentStatus, frozenset[PaymentStatus]] = {
    PaymentStatus.PENDING: frozenset({PaymentStatus.CHARGED, PaymentStatus.DECLINED, PaymentStatus.VOIDED}),
    PaymentStatus.CHARGED: frozenset({PaymentStatus.REFUNDED}),
    PaymentStatus.DUE_ON_DELIVERY: frozenset({PaymentStatus.COLLECTED}),
}

# The first status of a payment by each method.
PAYMENT_OPENS_AS: Mapping[PaymentMethod, PaymentStatus] = {
    PaymentMethod.CARD: PaymentStatus.PENDING,
    PaymentMethod.CASH: PaymentStatus.DUE_ON_DELIVERY,
}


def can_pay_move(current: PaymentStatus, new: PaymentStatus) -> bool:
    """True when a payment in ``current`` may move to ``new``; everything else is a no-op or a bug."""
    return new in PAYMENT_MOVES.get(current, frozenset())

"""Kafka handlers of the Palmetto App: thin adapters from events to services."""

from __future__ import annotations

from common.events import Envelope

from . import services


def on_order_placed(envelope: Envelope) -> None:
    services.ticket_open(envelope)


def on_cancellation_requested(envelope: Envelope) -> None:
    services.ticket_cancel(envelope)

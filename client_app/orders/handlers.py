"""Kafka handlers of the Client App: thin adapters from events to services."""

from __future__ import annotations

from common.events import Envelope

from . import services


def on_status_changed(envelope: Envelope) -> None:
    services.order_apply_status(envelope)


def on_cancellation_declined(envelope: Envelope) -> None:
    services.order_cancellation_refused(envelope)

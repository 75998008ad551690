"""Kafka handlers of the Courier App: thin adapters from events to services."""

from __future__ import annotations

from common.events import Envelope

from . import services


def on_ready_for_delivery(envelope: Envelope) -> None:
    services.delivery_open(envelope)

"""The event contract: examples validate, the codec round-trips, bad input is always InvalidEvent."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal
from pathlib import Path

import pytest

from common import events
from common.errors import InvalidEvent
from common.events import REGISTRY, Envelope, OrderPlaced, OrderStatusChanged, decode, encode
from common.lifecycle import Status

EXAMPLES = Path(events.__file__).parent / "event_examples"


def example(name: str) -> dict:
    return json.loads((EXAMPLES / f"{name}.json").read_text())


def raw(body: dict) -> bytes:
    return json.dumps(body).encode()


@pytest.mark.parametrize("key", sorted(REGISTRY), ids=lambda k: f"{k[0]}.v{k[1]}" if isinstance(k, tuple) else str(k))
def test_every_event_version_has_a_valid_example(key):
    event_type, version = key
    body = example(f"{event_type}.v{version}")
    envelope = decode(raw(body))
    assert (envelope.event_type, envelope.version) == key
    assert isinstance(envelope.payload, REGISTRY[key])


def test_every_example_file_belongs_to_a_registered_event():
    names = {p.stem for p in EXAMPLES.glob("*.json")}
    assert names == {f"{t}.v{v}" for t, v in REGISTRY}


def test_round_trip_keeps_every_field_and_uses_the_correlation_id_as_key():
    original = decode(raw(example("OrderPlaced.v1")))
    key, value, headers = encode(original)
    assert key == original.correlation_id.encode()
    assert dict(headers) == {
        "event_id": str(original.event_id).encode(),
        "event_type": b"OrderPlaced",
        "version": b"1",
        "correlation_id": original.correlation_id.encode(),
    }
    again = decode(value, headers)
    assert again == original
    assert again.payload.items[0].unit_price == Decimal("9.50")


def test_money_is_encoded_as_decimal_strings():
    _, value, _ = encode(decode(raw(example("OrderPlaced.v1"))))
    payload = json.loads(value)["payload"]
    assert payload["grand_total"] == "27.50"
    assert payload["items"][0]["unit_price"] == "9.50"


def test_new_envelope_is_stamped_in_utc_with_a_fresh_id():
    change = OrderStatusChanged(status=Status.ACCEPTED, sequence=1)
    a = Envelope.new(change, order_id=uuid.uuid4(), correlation_id="abc", source="palmetto")
    b = Envelope.new(change, order_id=a.order_id, correlation_id="abc", source="palmetto")
    assert a.event_id != b.event_id
    assert a.occurred_at.utcoffset().total_seconds() == 0


def mutate(name: str, change) -> bytes:
    body = example(name)
    change(body)
    return raw(body)


POISON = {
    "not JSON": b"\x00\xffnot json",
    "JSON but not an object": b"[1, 2, 3]",
    "empty value": None,
    "unknown event type": mutate("OrderPlaced.v1", lambda b: b.update(event_type="PizzaThrown")),
    "unknown version": mutate("OrderPlaced.v1", lambda b: b.update(version=99)),
    "version as string": mutate("OrderPlaced.v1", lambda b: b.update(version="1")),
    "missing envelope field": mutate("OrderPlaced.v1", lambda b: b.pop("order_id")),
    "extra envelope field": mutate("OrderPlaced.v1", lambda b: b.update(extra=1)),
    "bad uuid": mutate("OrderPlaced.v1", lambda b: b.update(event_id="nope")),
    "naive timestamp": mutate("OrderPlaced.v1", lambda b: b.update(occurred_at="2026-11-22T10:00:00")),
    "bad correlation id": mutate("OrderPlaced.v1", lambda b: b.update(correlation_id="has spaces")),
    "unknown source": mutate("OrderPlaced.v1", lambda b: b.update(source="mallory")),
    "negative quantity": mutate("OrderPlaced.v1", lambda b: b["payload"]["items"][0].update(quantity=-2)),
    "zero quantity": mutate("OrderPlaced.v1", lambda b: b["payload"]["items"][0].update(quantity=0)),
    "float quantity": mutate("OrderPlaced.v1", lambda b: b["payload"]["items"][0].update(quantity=1.5)),
    "price as float": mutate("OrderPlaced.v1", lambda b: b["payload"]["items"][0].update(unit_price=9.5)),
    "price not a number": mutate("OrderPlaced.v1", lambda b: b["payload"]["items"][0].update(unit_price="NaN")),
    "no items": mutate("OrderPlaced.v1", lambda b: b["payload"].update(items=[])),
    "wrong total": mutate("OrderPlaced.v1", lambda b: b["payload"].update(total_amount="1.00")),
    "missing payload field": mutate("OrderPlaced.v1", lambda b: b["payload"].pop("customer")),
    "unknown payload field": mutate("OrderPlaced.v1", lambda b: b["payload"].update(coupon="FREE")),
    "payload not an object": mutate("OrderPlaced.v1", lambda b: b.update(payload="x")),
    "unknown status": mutate("OrderStatusChanged.v1", lambda b: b["payload"].update(status="EATEN")),
    "sequence zero": mutate("OrderStatusChanged.v1", lambda b: b["payload"].update(sequence=0)),
    "sequence as bool": mutate("OrderStatusChanged.v1", lambda b: b["payload"].update(sequence=True)),
    "out for delivery without courier": mutate("OrderStatusChanged.v1", lambda b: b["payload"].update(courier=None)),
    "rejected without reason": mutate(
        "OrderStatusChanged.v1", lambda b: b["payload"].update(status="REJECTED", courier=None)
    ),
    "deeply nested": b"[" * 100_000 + b"]" * 100_000,
}


@pytest.mark.parametrize("value", POISON.values(), ids=POISON.keys())
def test_anything_malformed_raises_invalid_event_only(value):
    with pytest.raises(InvalidEvent):
        decode(value)


def test_headers_that_contradict_the_body_are_invalid():
    _, value, headers = encode(decode(raw(example("OrderStatusChanged.v1"))))
    tampered = [(k, b"OrderPlaced" if k == "event_type" else v) for k, v in headers]
    with pytest.raises(InvalidEvent, match="event_type"):
        decode(value, tampered)


def test_headers_are_optional():
    _, value, _ = encode(decode(raw(example("OrderStatusChanged.v1"))))
    assert decode(value, None).payload.courier == "Rosa"


def test_each_event_class_declares_its_topic():
    assert OrderPlaced.topic.name == "orders"
    assert OrderStatusChanged.topic.name == "notifications"


def test_an_old_version_is_read_as_the_newest_with_the_same_event_id():
    old = decode(raw(example("OrderPlaced.v1")))
    new = old.upgraded()
    assert (new.event_type, new.version, new.event_id) == ("OrderPlaced", 2, old.event_id)
    assert new.payload.payment == events.PaymentTerms(method="CASH", amount=Decimal("27.50"))
    status = decode(raw(example("OrderStatusChanged.v1"))).upgraded()
    assert status.version == 2 and status.payload.cash_due is None and status.payload.courier == "Rosa"
    newest = decode(raw(example("OrderPlaced.v2")))
    assert newest.upgraded() is newest


@pytest.mark.parametrize(
    "payment",
    [{"method": "BITCOIN", "amount": "27.50"}, {"method": "CARD", "amount": "1.00"}, {"method": "CARD"}, None],
    ids=["unknown method", "amount is not the grand total", "no amount", "no payment"],
)
def test_order_placed_v2_needs_valid_payment_terms(payment):
    body = example("OrderPlaced.v2")
    body["payment"] = payment
    if payment is None:
        body["payload"].pop("payment")
    else:
        body["payload"]["payment"] = payment
    body.pop("payment")
    with pytest.raises(InvalidEvent):
        decode(raw(body))


def test_cash_due_belongs_to_ready_for_delivery_only():
    body = example("OrderStatusChanged.v2")
    body["payload"].update(status="ACCEPTED", sequence=1)
    with pytest.raises(InvalidEvent, match="cash_due"):
        decode(raw(body))

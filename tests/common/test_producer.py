"""The one producer's settings and its reset (a real librdkafka client; no broker needed)."""

from __future__ import annotations

from common.kafka.producer import Producer


def test_reset_reports_what_the_old_client_still_held_as_failed_and_leaves_a_working_client():
    producer = Producer("127.0.0.1:9", client_id="tests", message_timeout_ms=60_000)  # nothing listens there
    outcome: list[str | None] = []
    producer.produce("orders", key=b"k", value=b"v", headers=[], on_delivery=outcome.append)
    producer.reset()
    assert len(outcome) == 1 and outcome[0] is not None and "purge" in outcome[0].lower()
    assert producer.flush(1) == 0  # the new client holds nothing of the old one's
    producer.produce("orders", key=b"k", value=b"v", headers=[], on_delivery=outcome.append)
    assert producer.flush(0.5) == 1  # and takes new messages (undeliverable here, so still queued)

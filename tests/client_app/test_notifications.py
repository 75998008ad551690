"""Customer emails: queued with the status change, once per status, sent by the mailer job, retried on failure."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from client_app.orders.models import EmailNotification, Order
from client_app.orders.services.notifying import emails_backlog, emails_send_due, retry_delay
from common.devstack.ports import free_port
from common.lifecycle import Status
from tests.support.factories import apply_status, place_order

pytestmark = pytest.mark.django_db
S = Status


@pytest.fixture
def order() -> Order:
    order = place_order(("margherita-30", 2))
    order.customer.email = "ada@example.org"
    order.customer.save()
    return order


def apply(order: Order, status: Status, sequence: int, **kw) -> bool:
    return apply_status(order.id, order.correlation_id, status, sequence, **kw)


def test_accepted_out_for_delivery_and_delivered_are_emailed_once_each(order, mailoutbox):
    for seq, status in enumerate([S.ACCEPTED, S.PREPARING, S.READY_FOR_DELIVERY, S.OUT_FOR_DELIVERY, S.DELIVERED], 1):
        assert apply(order, status, seq)
    assert not apply(order, S.DELIVERED, 5)  # a duplicate queues nothing
    assert emails_backlog()[0] == 3
    assert emails_send_due() == 3
    assert emails_send_due() == 0
    assert [m.extra_headers["X-Palmetto-Status"] for m in mailoutbox] == ["ACCEPTED", "OUT_FOR_DELIVERY", "DELIVERED"]
    assert {tuple(m.to) for m in mailoutbox} == {("ada@example.org",)}
    assert "on its way" in mailoutbox[1].subject and f"/track/{order.id}/" in mailoutbox[1].body
    assert emails_backlog() == (0, None)
    assert EmailNotification.objects.filter(order=order, sent_at__isnull=False).count() == 3


def test_a_rejection_is_emailed_with_its_reason(order, mailoutbox):
    assert apply(order, S.REJECTED, 1, reason="no mozzarella today")
    assert emails_send_due() == 1
    assert "rejected" in mailoutbox[0].subject and "Reason: no mozzarella today" in mailoutbox[0].body


def test_a_customer_without_an_email_address_gets_none(order, mailoutbox):
    order.customer.email = ""
    order.customer.save()
    assert apply(order, S.ACCEPTED, 1)
    assert emails_send_due() == 0 and mailoutbox == [] and not EmailNotification.objects.exists()


def test_a_rolled_back_status_change_queues_no_email(order):
    with pytest.raises(RuntimeError), transaction.atomic():
        apply(order, S.ACCEPTED, 1)
        raise RuntimeError("the consumer's batch fails")
    assert not EmailNotification.objects.exists()


def test_a_mail_server_that_refuses_connections_delays_the_email_with_back_off(order, settings, mailoutbox):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", free_port(), 2
    assert apply(order, S.ACCEPTED, 1)
    assert emails_send_due() == 0
    email = EmailNotification.objects.get()
    assert email.attempts == 1 and email.sent_at is None and "Connection" in email.last_error
    assert email.next_attempt_at > timezone.now()
    assert emails_send_due() == 0  # not due yet: nothing tried
    assert EmailNotification.objects.get().attempts == 1
    # The server is back and the email is due again: it goes out once.
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    EmailNotification.objects.update(next_attempt_at=timezone.now())
    assert emails_send_due() == 1 and len(mailoutbox) == 1


def test_a_tick_with_nothing_due_is_one_query(order, django_assert_num_queries, mailoutbox):
    """The mailer ticks every second: with nothing due it asks once and stops (not an email waiting
    for its retry, not one sent already)."""
    apply(order, S.ACCEPTED, 1)
    assert emails_send_due() == 1
    EmailNotification.objects.create(order=order, status=S.DELIVERED, to="ada@example.org", subject="s", body="b",
                                     next_attempt_at=timezone.now() + timedelta(minutes=1))
    with django_assert_num_queries(1):
        assert emails_send_due() == 0
    assert len(mailoutbox) == 1


def test_back_off_doubles_up_to_its_cap():
    assert [retry_delay(n) for n in (1, 2, 3)] == [timedelta(seconds=1), timedelta(seconds=2), timedelta(seconds=4)]
    assert retry_delay(20) == timedelta(seconds=30)


def test_an_orders_later_email_never_overtakes_an_earlier_one_waiting_for_a_retry(order, mailoutbox):
    assert apply(order, S.ACCEPTED, 1)
    EmailNotification.objects.update(attempts=3, next_attempt_at=timezone.now() + timedelta(hours=1))
    assert apply(order, S.OUT_FOR_DELIVERY, 4)
    assert emails_send_due() == 0  # OUT_FOR_DELIVERY waits behind ACCEPTED
    EmailNotification.objects.update(next_attempt_at=timezone.now())
    assert emails_send_due() == 2
    assert [m.extra_headers["X-Palmetto-Status"] for m in mailoutbox] == ["ACCEPTED", "OUT_FOR_DELIVERY"]

from django.db import migrations

from common.db import OUTBOX_CHANNEL, notify_trigger


class Migration(migrations.Migration):
    """Wake the outbox relay (LISTEN/NOTIFY) when a row is queued, instead of polling for it."""

    dependencies = [("orders", "0005_history_payment_kinds")]

    operations = [
        notify_trigger("orders_outboxmessage", OUTBOX_CHANNEL, on="INSERT OR UPDATE OF sent_at",
                       when="NEW.sent_at IS NULL"),
    ]

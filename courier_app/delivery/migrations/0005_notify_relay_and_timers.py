from django.db import migrations

from common.db import OUTBOX_CHANNEL, TIMERS_CHANNEL, notify_trigger


class Migration(migrations.Migration):
    """Wake the outbox relay and the courier timers (LISTEN/NOTIFY) when there is work, instead of polling:
    a row queued, a delivery waiting or travelling, a courier free again."""

    dependencies = [("delivery", "0004_delivery_cash_due")]

    operations = [
        notify_trigger("delivery_outboxmessage", OUTBOX_CHANNEL, on="INSERT OR UPDATE OF sent_at",
                       when="NEW.sent_at IS NULL"),
        notify_trigger("delivery_delivery", TIMERS_CHANNEL, on="INSERT OR UPDATE OF stage, due_at",
                       when="NEW.stage = 'WAITING' OR NEW.due_at IS NOT NULL"),
        notify_trigger("delivery_courier", TIMERS_CHANNEL, on="INSERT OR UPDATE OF busy, active",
                       when="NEW.active AND NOT NEW.busy"),
    ]

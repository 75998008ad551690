from django.db import migrations

from common.db import OUTBOX_CHANNEL, TIMERS_CHANNEL, notify_trigger


class Migration(migrations.Migration):
    """Wake the outbox relay and the kitchen's timers (LISTEN/NOTIFY) when there is work, instead of polling."""

    dependencies = [("kitchen", "0003_ticket_payment")]

    operations = [
        notify_trigger("kitchen_outboxmessage", OUTBOX_CHANNEL, on="INSERT OR UPDATE OF sent_at",
                       when="NEW.sent_at IS NULL"),
        notify_trigger("kitchen_ticket", TIMERS_CHANNEL, on="INSERT OR UPDATE OF next_stage_at",
                       when="NEW.next_stage_at IS NOT NULL"),
    ]

"""The kitchen's rail for operators: tickets are read-only, availability is editable."""

from django.contrib import admin

from common.admin import InboxAdmin, OutboxAdmin, ReadOnlyAdmin

from .models import InboxEvent, OutboxMessage, Ticket, UnavailableItem


@admin.register(Ticket)
class TicketAdmin(ReadOnlyAdmin):
    list_display = (
        "order_id",
        "received_at",
        "customer_name",
        "item_count",
        "payment_method",
        "stage",
        "next_stage_at",
        "correlation_id",
    )
    list_filter = ("stage",)
    search_fields = ("order_id", "correlation_id", "customer_name")


@admin.register(UnavailableItem)
class UnavailableItemAdmin(admin.ModelAdmin):
    list_display = ("item_id", "reason", "since")
    search_fields = ("item_id",)


admin.site.register(OutboxMessage, OutboxAdmin)
admin.site.register(InboxEvent, InboxAdmin)

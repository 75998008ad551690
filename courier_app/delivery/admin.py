"""Couriers are managed here; deliveries are read-only (they change through events)."""

from django.contrib import admin

from common.admin import InboxAdmin, OutboxAdmin, ReadOnlyAdmin

from .models import Courier, Delivery, InboxEvent, OutboxMessage


@admin.register(Courier)
class CourierAdmin(admin.ModelAdmin):
    list_display = ("name", "phone", "active", "busy")
    list_filter = ("active", "busy")
    list_editable = ("active",)
    readonly_fields = ("busy",)
    search_fields = ("name",)


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    list_display = ("order_id", "stage", "courier", "ready_at", "picked_up_at", "delivered_at", "correlation_id")
    list_filter = ("stage", "courier")
    search_fields = ("order_id", "correlation_id")


admin.site.register(OutboxMessage, OutboxAdmin)
admin.site.register(InboxEvent, InboxAdmin)

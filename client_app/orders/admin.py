"""Operators' view of orders: read-only, because status only changes through events."""

from django.contrib import admin

from common.admin import InboxAdmin, OutboxAdmin, ReadOnlyAdmin, ReadOnlyInline

from .models import EmailNotification, InboxEvent, MenuItem, Order, OrderItem, OrderStatusChange, OutboxMessage


class OrderItemInline(ReadOnlyInline):
    model = OrderItem
    fields = ("item_id", "name", "quantity", "unit_price", "line_total")


class StatusInline(ReadOnlyInline):
    model = OrderStatusChange
    fields = ("sequence", "kind", "status", "occurred_at", "recorded_at", "source", "reason", "courier")


class EmailInline(ReadOnlyInline):
    model = EmailNotification
    fields = ("status", "to", "created_at", "attempts", "last_error", "sent_at")


@admin.register(EmailNotification)
class EmailNotificationAdmin(ReadOnlyAdmin):
    list_display = ("order", "status", "to", "created_at", "attempts", "sent_at")
    list_filter = ("status", "sent_at")
    search_fields = ("order__id", "to")


@admin.register(Order)
class OrderAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "created_at",
        "customer",
        "customer_name",
        "status",
        "cancellation",
        "grand_total",
        "currency",
        "correlation_id",
    )
    list_filter = ("status", "cancellation", "created_at")
    search_fields = ("id", "correlation_id", "customer__username", "customer_name", "customer_phone")
    date_hierarchy = "created_at"
    inlines = [OrderItemInline, StatusInline, EmailInline]


@admin.register(MenuItem)
class MenuItemAdmin(admin.ModelAdmin):
    list_display = ("item_id", "name", "size", "category", "price", "available", "position")
    list_filter = ("category", "available")
    list_editable = ("price", "available", "position")
    search_fields = ("item_id", "name")


admin.site.register(OutboxMessage, OutboxAdmin)
admin.site.register(InboxEvent, InboxAdmin)

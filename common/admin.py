"""Admin building blocks every service uses (nothing is registered here).

Order state changes only through events, so the admin shows it read-only;
an edit here would bypass the outbox and the other services would never know.
"""

from django.contrib import admin


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class ReadOnlyInline(admin.TabularInline):
    """Rows shown under their parent, every field displayed as text (auto fields such as
    ``auto_now_add`` timestamps included, which a form could not show)."""

    extra = 0
    can_delete = False

    def get_readonly_fields(self, request, obj=None):
        return self.fields or [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class OutboxAdmin(ReadOnlyAdmin):
    list_display = ("id", "event_type", "order_id", "topic", "created_at", "sent_at", "attempts")
    list_filter = ("event_type", ("sent_at", admin.EmptyFieldListFilter))
    search_fields = ("order_id", "key", "event_id")


class InboxAdmin(ReadOnlyAdmin):
    list_display = ("event_id", "event_type", "order_id", "topic", "partition", "offset", "received_at")
    list_filter = ("event_type", "partition")
    search_fields = ("order_id", "correlation_id", "event_id")

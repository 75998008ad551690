"""Staff's view of the money: wallets, ledger entries and payments read-only -- a balance only
changes through the ledger -- plus the one write staff make, a top-up, which goes through
:func:`.services.wallet_top_up` and is itself a ledger entry."""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from common.admin import ReadOnlyAdmin, ReadOnlyInline
from common.errors import DomainError

from .models import LedgerEntry, Payment, Wallet
from .services import MAX_TOP_UP, wallet_top_up


class TopUpForm(forms.Form):
    customer = forms.CharField(max_length=150, help_text="The customer's username; a card is issued if they have none.")
    amount = forms.DecimalField(max_digits=12, decimal_places=2, min_value=Decimal("0.01"), max_value=MAX_TOP_UP)
    reason = forms.CharField(max_length=200, help_text="Gift card, goodwill, ... (shown to the customer).")

    def clean_customer(self):
        username = self.cleaned_data["customer"]
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise forms.ValidationError(f"no customer {username!r}")
        return user


class EntryInline(ReadOnlyInline):
    model = LedgerEntry
    fields = ("created_at", "kind", "amount", "reason", "order", "created_by")
    ordering = ("-created_at", "-id")


@admin.register(Wallet)
class WalletAdmin(ReadOnlyAdmin):
    list_display = ("customer", "balance", "currency", "updated_at")
    search_fields = ("customer__username",)
    inlines = [EntryInline]
    actions = ["top_up_selected"]
    change_list_template = "admin/payments/wallet/change_list.html"

    def get_urls(self):
        top_up = path("top-up/", self.admin_site.admin_view(self.top_up_view), name="payments_wallet_top_up")
        return [top_up, *super().get_urls()]

    @admin.action(description="Top up the selected wallets")
    def top_up_selected(self, request, queryset):
        wallet = queryset.first()
        return redirect(f"{reverse('admin:payments_wallet_top_up')}?customer={wallet.customer.username}")

    def top_up_view(self, request):
        """A form that credits a customer's card through the service (the ledger entry names the staff member)."""
        if not request.user.has_perm("payments.add_ledgerentry"):
            raise PermissionDenied
        form = TopUpForm(request.POST or None, initial={"customer": request.GET.get("customer", "")})
        if request.method == "POST" and form.is_valid():
            try:
                entry = wallet_top_up(
                    customer=form.cleaned_data["customer"], amount=form.cleaned_data["amount"],
                    reason=form.cleaned_data["reason"], by=request.user.get_username(),
                )
            except DomainError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, f"{entry.wallet.customer}: +{entry.amount}, balance {entry.wallet.balance}")
                return redirect("admin:payments_wallet_changelist")
        context = {**self.admin_site.each_context(request), "form": form, "title": "Top up a Palmetto card",
                   "opts": self.model._meta}
        return TemplateResponse(request, "admin/payments/top_up.html", context)


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "wallet", "kind", "amount", "reason", "order", "created_by")
    list_filter = ("kind", "created_at")
    search_fields = ("wallet__customer__username", "order__id", "reason")


@admin.register(Payment)
class PaymentAdmin(ReadOnlyAdmin):
    list_display = ("order", "method", "status", "amount", "currency", "updated_at")
    list_filter = ("method", "status")
    search_fields = ("order__id", "order__correlation_id")

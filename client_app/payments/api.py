"""The customer's Palmetto card: balance and ledger. Thin views over selectors; money only
moves through the services (orders, refunds, staff top-ups in the admin)."""

from __future__ import annotations

from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from . import selectors
from .models import LedgerEntry, Wallet


class WalletOut(serializers.ModelSerializer):
    class Meta:
        model = Wallet
        fields = ["balance", "currency"]


class LedgerEntryOut(serializers.ModelSerializer):
    kind = serializers.ChoiceField(choices=LedgerEntry.Kind.values)
    amount = serializers.DecimalField(
        max_digits=12, decimal_places=2, help_text="Positive: money in (top-up, refund); negative: a charge."
    )
    orderId = serializers.UUIDField(source="order_id", allow_null=True)
    createdAt = serializers.DateTimeField(source="created_at")

    class Meta:
        model = LedgerEntry
        fields = ["kind", "amount", "reason", "orderId", "createdAt"]


class WalletView(APIView):
    @extend_schema(
        operation_id="wallet_retrieve",
        summary="Your Palmetto card's balance",
        description="404 when you have no card: staff issue one with the first top-up.",
        responses={200: WalletOut, 404: None},
    )
    def get(self, request: Request) -> Response:
        wallet = selectors.wallet_of(request.user)
        if wallet is None:
            raise NotFound("you have no Palmetto card")
        return Response(WalletOut(wallet).data)


class LedgerView(ListAPIView):
    serializer_class = LedgerEntryOut

    def get_queryset(self):
        return selectors.ledger_of(self.request.user)

    @extend_schema(operation_id="wallet_entries_list", summary="Your card's transactions, newest first")
    def get(self, request: Request, *args, **kwargs) -> Response:
        return super().get(request, *args, **kwargs)


urlpatterns = [
    path("wallet/", WalletView.as_view(), name="wallet"),
    path("wallet/entries/", LedgerView.as_view(), name="wallet-entries"),
]

"""Request and response shapes of the orders API (camelCase on the wire)."""

from __future__ import annotations

from rest_framework import serializers

from common.lifecycle import Status

from ..models import MenuItem, Order, OrderItem, OrderStatusChange
from ..services import MAX_LINES, MAX_QUANTITY

PHONE_RE = r"^\+?[0-9][0-9 ()./-]{3,30}$"
POSTAL_CODE_RE = r"^[A-Za-z0-9][A-Za-z0-9 -]{1,14}[A-Za-z0-9]$"


class CustomerIn(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    phone = serializers.RegexField(PHONE_RE, max_length=32, error_messages={"invalid": "not a phone number"})


class AddressIn(serializers.Serializer):
    street = serializers.CharField(max_length=200)
    city = serializers.CharField(max_length=100)
    postalCode = serializers.RegexField(POSTAL_CODE_RE, max_length=16, error_messages={"invalid": "not a postal code"})


class LineIn(serializers.Serializer):
    itemId = serializers.CharField(max_length=64)
    quantity = serializers.IntegerField(min_value=1, max_value=MAX_QUANTITY)
    price = serializers.DecimalField(
        max_digits=8, decimal_places=2, required=False, help_text="Optional; when given it must equal the menu price."
    )


class OrderCreateIn(serializers.Serializer):
    customer = CustomerIn()
    deliveryAddress = AddressIn()
    items = serializers.ListField(child=LineIn(), min_length=1, max_length=MAX_LINES)
    currency = serializers.RegexField(r"^[A-Z]{3}$", required=False, help_text="ISO 4217; must be the shop's currency.")
    totalAmount = serializers.DecimalField(
        max_digits=10, decimal_places=2, required=False, help_text="Optional; when given it must equal the server's total."
    )


class CustomerOut(serializers.Serializer):
    name = serializers.CharField(source="customer_name")
    phone = serializers.CharField(source="customer_phone")


class AddressOut(serializers.Serializer):
    street = serializers.CharField()
    city = serializers.CharField()
    postalCode = serializers.CharField(source="postal_code")


class OrderItemOut(serializers.ModelSerializer):
    itemId = serializers.CharField(source="item_id")
    price = serializers.DecimalField(source="unit_price", max_digits=8, decimal_places=2)
    lineTotal = serializers.DecimalField(source="line_total", max_digits=10, decimal_places=2)

    class Meta:
        model = OrderItem
        fields = ["itemId", "name", "quantity", "price", "lineTotal"]


class StatusChangeOut(serializers.ModelSerializer):
    status = serializers.ChoiceField(choices=[s.value for s in Status])
    occurredAt = serializers.DateTimeField(source="occurred_at")
    recordedAt = serializers.DateTimeField(source="recorded_at")

    class Meta:
        model = OrderStatusChange
        fields = ["status", "sequence", "occurredAt", "recordedAt", "source", "reason", "courier"]


class OrderOut(serializers.ModelSerializer):
    orderId = serializers.UUIDField(source="id")
    correlationId = serializers.CharField(source="correlation_id")
    orderDate = serializers.DateTimeField(source="created_at")
    status = serializers.ChoiceField(choices=[s.value for s in Status])
    customer = CustomerOut(source="*")
    deliveryAddress = AddressOut(source="*")
    items = OrderItemOut(many=True)
    totalAmount = serializers.DecimalField(source="total_amount", max_digits=10, decimal_places=2)
    deliveryFee = serializers.DecimalField(source="delivery_fee", max_digits=8, decimal_places=2)
    grandTotal = serializers.DecimalField(source="grand_total", max_digits=10, decimal_places=2)
    history = StatusChangeOut(many=True)

    class Meta:
        model = Order
        fields = [
            "orderId", "correlationId", "orderDate", "status", "customer", "deliveryAddress", "items",
            "currency", "totalAmount", "deliveryFee", "grandTotal", "history",
        ]


class MenuItemOut(serializers.ModelSerializer):
    itemId = serializers.CharField(source="item_id")

    class Meta:
        model = MenuItem
        fields = ["itemId", "name", "category", "size", "description", "price"]


class ErrorOut(serializers.Serializer):
    """The one error shape of every error response."""

    status = serializers.IntegerField()
    code = serializers.CharField()
    message = serializers.CharField()
    errors = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))

"""Request and response shapes of the orders API (camelCase on the wire)."""

from __future__ import annotations

import re
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.utils.serializer_helpers import ReturnDict

from common.lifecycle import PaymentStatus, Status

from ..models import MenuItem, Order, OrderItem, OrderStatusChange
from ..services.pricing import MAX_LINES, MAX_QUANTITY

PHONE_RE = r"^\+?[0-9][0-9 ()./-]{3,30}$"
PASSWORD_RE = r"[^0-9]"  # at least one character that is not a digit (Django's NumericPasswordValidator)
POSTAL_CODE_RE = r"^[A-Za-z0-9][A-Za-z0-9 -]{1,14}[A-Za-z0-9]$"


class CustomerIn(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    # Not trimmed: the pattern is the whole rule ("000 " trimmed would be a number the pattern refuses).
    phone = serializers.RegexField(
        PHONE_RE, max_length=32, trim_whitespace=False, error_messages={"invalid": "not a phone number"}
    )


class AddressIn(serializers.Serializer):
    street = serializers.CharField(max_length=200)
    city = serializers.CharField(max_length=100)
    postalCode = serializers.RegexField(
        POSTAL_CODE_RE, max_length=16, trim_whitespace=False, error_messages={"invalid": "not a postal code"}
    )


# A money amount as the API writes it: a decimal string with at most two decimals, never negative.
MONEY_RE = r"^[0-9]{1,8}(\.[0-9]{1,2})?$"


@extend_schema_field({"type": "string", "pattern": MONEY_RE, "example": "12.50"})
class MoneyIn(serializers.DecimalField):
    """An amount a client states, as a decimal string ("12.50"), exactly as the API answers amounts.

    JSON numbers are refused: binary floating point is not money, and the schema says "string".
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(max_digits=10, decimal_places=2, **kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, str) or not re.match(MONEY_RE, data):
            self.fail("invalid")
        return super().to_internal_value(data)


class LineIn(serializers.Serializer):
    itemId = serializers.CharField(max_length=64)
    quantity = serializers.IntegerField(min_value=1, max_value=MAX_QUANTITY)
    price = MoneyIn(required=False, help_text="Optional; when given it must equal the menu price (else 409).")


class PaymentIn(serializers.Serializer):
    method = serializers.ChoiceField(
        choices=["card", "cash"],
        help_text="card: your Palmetto card, charged before the kitchen starts (insufficient balance: the order "
        "ends REJECTED); cash: paid to the courier on delivery.",
    )
    amount = MoneyIn(required=False, help_text="Optional; when given it must equal grandTotal (else 409).")


class OrderCreateIn(serializers.Serializer):
    customer = CustomerIn()
    deliveryAddress = AddressIn()
    items = serializers.ListField(child=LineIn(), min_length=1, max_length=MAX_LINES)
    currency = serializers.RegexField(
        r"^[A-Z]{3}$", required=False, help_text="ISO 4217; must be the shop's currency (else 409)."
    )
    payment = PaymentIn(required=False, help_text="How you pay; cash on delivery when absent.")
    totalAmount = MoneyIn(required=False, help_text="Optional; when given it must equal the server's total (else 409).")


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
    kind = serializers.ChoiceField(
        choices=OrderStatusChange.Kind.values,
        help_text="STATUS for a status change; cancellation requests and refusals and payment steps leave the "
        "status as it was.",
    )
    status = serializers.ChoiceField(
        choices=[s.value for s in Status], help_text="The order's status after this entry."
    )
    occurredAt = serializers.DateTimeField(source="occurred_at")
    recordedAt = serializers.DateTimeField(source="recorded_at")

    class Meta:
        model = OrderStatusChange
        fields = ["kind", "status", "sequence", "occurredAt", "recordedAt", "source", "reason", "courier"]


class CancellationOut(serializers.Serializer):
    state = serializers.ChoiceField(
        source="cancellation", choices=Order.Cancellation.values, help_text="Empty when never requested."
    )
    reason = serializers.CharField(source="cancellation_reason")


class PaymentOut(serializers.Serializer):
    method = serializers.SerializerMethodField()
    status = serializers.ChoiceField(
        choices=[s.value for s in PaymentStatus],
        help_text="card: PENDING, then CHARGED or DECLINED; CHARGED becomes REFUNDED when the order ends CANCELLED "
        "or REJECTED; VOIDED when the order ended before the charge. cash: DUE_ON_DELIVERY, then COLLECTED.",
    )
    amount = serializers.DecimalField(max_digits=12, decimal_places=2)
    currency = serializers.CharField()
    reason = serializers.CharField(help_text="Why it was declined, voided or refunded; empty otherwise.")

    @extend_schema_field(serializers.ChoiceField(choices=["card", "cash"]))
    def get_method(self, payment) -> str:
        return payment.method.lower()


class OrderOut(serializers.ModelSerializer):
    orderId = serializers.UUIDField(source="id")
    customerId = serializers.CharField(source="customer_id", allow_null=True)
    correlationId = serializers.CharField(source="correlation_id")
    orderDate = serializers.DateTimeField(source="created_at")
    status = serializers.ChoiceField(choices=[s.value for s in Status])
    customer = CustomerOut(source="*")
    deliveryAddress = AddressOut(source="*")
    items = OrderItemOut(many=True)
    totalAmount = serializers.DecimalField(source="total_amount", max_digits=10, decimal_places=2)
    deliveryFee = serializers.DecimalField(source="delivery_fee", max_digits=8, decimal_places=2)
    grandTotal = serializers.DecimalField(source="grand_total", max_digits=10, decimal_places=2)
    cancellation = CancellationOut(source="*")
    history = StatusChangeOut(many=True)
    payment = PaymentOut(allow_null=True, help_text="Null for orders placed before payments existed.")

    class Meta:
        model = Order
        fields = [
            "orderId",
            "customerId",
            "correlationId",
            "orderDate",
            "status",
            "customer",
            "deliveryAddress",
            "items",
            "currency",
            "totalAmount",
            "deliveryFee",
            "grandTotal",
            "cancellation",
            "payment",
            "history",
        ]


def order_out(order: Order) -> ReturnDict:
    """``OrderOut(order).data``, computed by one shared ``OrderOut`` whose fields are built once per process.

    A serializer builds its fields on first use by deep-copying every declared field (and a
    ModelSerializer introspects its model): for ``OrderOut`` and the five serializers nested in it
    that cost more than turning the order into JSON. ``to_representation`` keeps nothing on the
    serializer between calls, so one instance serves every request and thread. The result is tied
    to a fresh ``OrderOut(order)``, as ``.data`` would be (the browsable API reads it from there).
    """
    return ReturnDict(_ORDER_OUT.to_representation(order), serializer=OrderOut(order))


def order_create_in(data: Any) -> dict[str, Any]:
    """``OrderCreateIn(data=data)``'s ``validated_data``, validated by one shared ``OrderCreateIn``.

    As for :func:`order_out`: building the fields per request cost more than validating the body, and
    ``run_validation`` keeps nothing on the serializer. A body that fails is validated again by a fresh
    ``OrderCreateIn``, so the ``ValidationError`` raised is exactly the one ``is_valid(raise_exception=True)``
    raises (DRF reshapes some errors in ``.errors``); only valid bodies take the shared path.
    """
    try:
        return _ORDER_CREATE_IN.run_validation(data)
    except serializers.ValidationError:
        fresh = OrderCreateIn(data=data)
        fresh.is_valid(raise_exception=True)
        return fresh.validated_data


_ORDER_OUT = OrderOut()
_ORDER_CREATE_IN = OrderCreateIn()


class OrderSummaryOut(serializers.ModelSerializer):
    """An order in a list: enough to pick one; its URL gives the rest."""

    orderId = serializers.UUIDField(source="id")
    correlationId = serializers.CharField(source="correlation_id")
    orderDate = serializers.DateTimeField(source="created_at")
    status = serializers.ChoiceField(choices=[s.value for s in Status])
    grandTotal = serializers.DecimalField(source="grand_total", max_digits=10, decimal_places=2)

    class Meta:
        model = Order
        fields = ["orderId", "correlationId", "orderDate", "status", "currency", "grandTotal"]


class OrderListQuery(serializers.Serializer):
    status = serializers.ChoiceField(choices=[s.value for s in Status], required=False)

    def to_internal_value(self, data):
        # DRF reads an empty query value of an optional field as "absent"; the schema says a status, so 400.
        if data.get("status") == "":
            raise serializers.ValidationError({"status": ["choose a status; omit the parameter for all orders"]})
        return super().to_internal_value(data)


class CancelIn(serializers.Serializer):
    reason = serializers.CharField(max_length=300, required=False, allow_blank=True)


class RegisterIn(serializers.Serializer):
    username = serializers.RegexField(
        r"^[\w.@+-]{3,150}$", error_messages={"invalid": "3-150 letters, digits and @/./+/-/_"}
    )
    # What the schema can say of the password rules; the rest (not a common password, not like the
    # username) only the server can check: 422 password_rejected.
    password = serializers.RegexField(
        PASSWORD_RE, min_length=8, max_length=128, write_only=True, trim_whitespace=False,
        error_messages={"invalid": "must not be entirely numeric"},
    )  # fmt: skip
    email = serializers.EmailField(
        required=False, allow_blank=True,
        help_text="Where emails about your orders go (accepted, rejected, on its way, delivered). Optional: "
        "without one no email is sent.",
    )


class TokenIn(serializers.Serializer):
    username = serializers.CharField(min_length=1, max_length=150, trim_whitespace=False)
    password = serializers.CharField(min_length=1, max_length=128, write_only=True, trim_whitespace=False)


class TokenOut(serializers.Serializer):
    username = serializers.CharField()
    token = serializers.CharField()


class TopicOrderIdOut(serializers.Serializer):
    orderId = serializers.CharField(source="order_id")
    count = serializers.IntegerField(help_text="Messages about this order in the topic.")


class TopicOrderIdsOut(serializers.Serializer):
    topic = serializers.CharField(help_text="The topic's full name (with prefix).")
    messages = serializers.IntegerField()
    undecodable = serializers.IntegerField(help_text="Messages that are not valid events (no order id).")
    complete = serializers.BooleanField(help_text="False when the topic was too large to read in the time allowed.")
    orderIds = TopicOrderIdOut(source="order_ids", many=True, help_text="In the order they were first seen.")


class MenuItemOut(serializers.ModelSerializer):
    itemId = serializers.CharField(source="item_id")

    class Meta:
        model = MenuItem
        fields = ["itemId", "name", "category", "size", "description", "price"]

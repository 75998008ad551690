"""The customer's orders: place, list, read, cancel; and the menu. Thin views over services and selectors."""

from __future__ import annotations

import hashlib
import json
import re
import uuid

from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.generics import ListAPIView
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from common import events
from common.http import rebind_correlation_id
from common.lifecycle import PaymentMethod

from .. import selectors
from ..models import Order
from ..services.cancelling import order_request_cancel
from ..services.placing import Idempotency, PaymentRequest, order_place
from ..services.pricing import LineRequest
from .serializers import (
    CancelIn,
    MenuItemOut,
    OrderCreateIn,
    OrderListQuery,
    OrderOut,
    OrderSummaryOut,
    order_create_in,
    order_out,
)
from .throttles import OrderCreateThrottle

IDEMPOTENCY_KEY_MAX = 100
# Printable ASCII, no surrounding spaces (HTTP would strip them), 1-100 characters: what the schema says.
IDEMPOTENCY_KEY_RE = re.compile(rf"^[!-~]([ -~]{{0,{IDEMPOTENCY_KEY_MAX - 2}}}[!-~])?$")
IDEMPOTENCY_PARAM = OpenApiParameter(
    "Idempotency-Key",
    {"type": "string", "minLength": 1, "maxLength": IDEMPOTENCY_KEY_MAX, "pattern": IDEMPOTENCY_KEY_RE.pattern},
    OpenApiParameter.HEADER,
    description=f"1-{IDEMPOTENCY_KEY_MAX} printable ASCII characters, no leading or trailing space. The same key "
    "with the same body returns the original order; with a different body the request is refused with 422.",
)


def _idempotency(request: Request) -> Idempotency | None:
    """The request's ``Idempotency-Key`` with a fingerprint of its body (canonical JSON, SHA-256)."""
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not IDEMPOTENCY_KEY_RE.match(key):
        raise ValidationError(
            {"Idempotency-Key": [f"1-{IDEMPOTENCY_KEY_MAX} printable ASCII characters, no surrounding spaces"]}
        )
    canonical = json.dumps(request.data, sort_keys=True, separators=(",", ":"), default=str)
    return Idempotency(key=key, fingerprint=hashlib.sha256(canonical.encode()).hexdigest())


def _payment(body: dict | None) -> PaymentRequest | None:
    if body is None:
        return None
    return PaymentRequest(method=PaymentMethod(body["method"].upper()), amount=body.get("amount"))


def _order_response(order: Order, code: int = status.HTTP_200_OK, **headers) -> Response:
    """``order`` as the API shows it (load items and history first, as ``selectors.order_get`` does,
    or they are read one relation at a time)."""
    return Response(order_out(order), status=code, headers=headers)


def _visible_order(request: Request, order_id: uuid.UUID) -> Order:
    """The order if this user may see it; another customer's order is 404, never 403."""
    order = selectors.order_get(order_id, visible_to=request.user)
    if order is None:
        raise NotFound(f"no order {order_id}")
    if not request.correlation_id_given:
        # Without a caller-supplied ID, answer under the order's own.
        rebind_correlation_id(request, order.correlation_id)
    return order


class OrderListCreateView(ListAPIView):
    throttle_classes = [OrderCreateThrottle]
    serializer_class = OrderSummaryOut

    def get_queryset(self):
        query = OrderListQuery(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        return selectors.orders_visible_to(self.request.user, status=query.validated_data.get("status"))

    @extend_schema(
        operation_id="orders_list",
        summary="Your orders, newest first (staff: everyone's)",
        parameters=[OrderListQuery],
    )
    def get(self, request: Request, *args, **kwargs) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        operation_id="orders_create",
        summary="Place an order",
        description="Prices come from the menu; a given item price, totalAmount or payment.amount must match the "
        "server's figures. Paying by card needs a Palmetto card (402 no_card otherwise); whether its balance "
        "suffices is decided right after, and a declined order ends REJECTED. Without payment: cash on delivery.",
        request=OrderCreateIn,
        responses={
            201: OrderOut,
            200: OpenApiResponse(OrderOut, description="Replayed: the order this Idempotency-Key created"),
            402: None,
            409: None,
            422: None,
        },
        parameters=[IDEMPOTENCY_PARAM],
    )
    def post(self, request: Request) -> Response:
        body = order_create_in(request.data)
        address = body["deliveryAddress"]
        placed = order_place(
            customer_account=request.user,
            correlation_id=request.correlation_id,
            customer=events.Customer(**body["customer"]),
            address=events.DeliveryAddress(
                street=address["street"], city=address["city"], postal_code=address["postalCode"]
            ),
            lines=[LineRequest(line["itemId"], line["quantity"], line.get("price")) for line in body["items"]],
            currency=body.get("currency"),
            total_amount=body.get("totalAmount"),
            payment=_payment(body.get("payment")),
            idempotency=_idempotency(request),
        )
        order = placed.order
        if placed.replayed:
            rebind_correlation_id(request, order.correlation_id)
        location = request.build_absolute_uri(reverse("order-detail", args=[order.id]))
        code = status.HTTP_200_OK if placed.replayed else status.HTTP_201_CREATED
        return _order_response(order, code, Location=location)


class OrderDetailView(APIView):
    @extend_schema(
        operation_id="orders_retrieve",
        summary="An order with its items, totals, status and history",
        responses={200: OrderOut},
    )
    def get(self, request: Request, order_id: uuid.UUID) -> Response:
        return Response(order_out(_visible_order(request, order_id)))


class OrderCancelView(APIView):
    @extend_schema(
        operation_id="orders_cancel",
        summary="Ask to cancel an order",
        description="The kitchen decides: before the food is ready the order ends CANCELLED; otherwise the refusal "
        "appears in the order's history. Answers 409 when the order is already past the point of no return.",
        request=CancelIn,
        responses={202: OrderOut, 409: None},
    )
    def post(self, request: Request, order_id: uuid.UUID) -> Response:
        data = CancelIn(data=request.data)
        data.is_valid(raise_exception=True)
        order = _visible_order(request, order_id)
        order_request_cancel(order_id=order.id, reason=data.validated_data.get("reason", ""))
        return _order_response(selectors.order_get(order.id), status.HTTP_202_ACCEPTED)


class MenuView(ListAPIView):
    """What can be ordered, with prices in the shop's currency."""

    serializer_class = MenuItemOut
    pagination_class = None
    permission_classes = [AllowAny]

    def get_queryset(self):
        return selectors.menu_list()

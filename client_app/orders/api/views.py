"""Orders API: thin views over services and selectors."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.auth.models import User
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.authtoken.models import Token
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.generics import ListAPIView
from rest_framework.permissions import AllowAny, IsAdminUser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import UserRateThrottle
from rest_framework.views import APIView

from common import correlation, events
from common.http import error_body, rebind_correlation_id, service_unavailable
from common.kafka.inspect import BrokerUnavailable, UnknownTopic, scan_order_ids
from common.topics import DLT_SUFFIX, TOPICS

from .. import selectors, services
from ..models import Order
from .serializers import (
    CancelIn,
    MenuItemOut,
    OrderCreateIn,
    OrderListQuery,
    OrderOut,
    OrderSummaryOut,
    RegisterIn,
    TokenOut,
    TopicOrderIdsOut,
)

CORRELATION_PARAM = OpenApiParameter(
    correlation.HEADER,
    str,
    OpenApiParameter.HEADER,
    description="Correlation ID for this order (1-64 of [A-Za-z0-9._:-]); minted when absent. Echoed in the response.",
)
IDEMPOTENCY_PARAM = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    description="1-100 printable characters. The same key with the same body returns the original order; "
    "with a different body the request is refused with 422.",
)
IDEMPOTENCY_KEY_MAX = 100


class OrderCreateThrottle(UserRateThrottle):
    """Limits how fast one customer can place orders (PALMETTO_ORDER_RATE); reads are not limited."""

    scope = "order_create"

    def allow_request(self, request, view) -> bool:
        return request.method != "POST" or super().allow_request(request, view)


def _order_response(order: Order, code: int = status.HTTP_200_OK, **headers) -> Response:
    return Response(OrderOut(selectors.order_get(order.id)).data, status=code, headers=headers)


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
        parameters=[OrderListQuery, CORRELATION_PARAM],
    )
    def get(self, request: Request, *args, **kwargs) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        operation_id="orders_create",
        summary="Place an order",
        description="Prices come from the menu; a given item price or totalAmount must match the server's figures.",
        request=OrderCreateIn,
        responses={201: OrderOut, 200: OpenApiResponse(OrderOut, description="Replayed: the order this Idempotency-Key created"),
                   409: None, 422: None},
        parameters=[CORRELATION_PARAM, IDEMPOTENCY_PARAM],
    )
    def post(self, request: Request) -> Response:
        data = OrderCreateIn(data=request.data)
        data.is_valid(raise_exception=True)
        body = data.validated_data
        key = request.headers.get("Idempotency-Key")
        if key is not None and not (0 < len(key) <= IDEMPOTENCY_KEY_MAX and key.isprintable()):
            raise ValidationError({"Idempotency-Key": [f"must be 1-{IDEMPOTENCY_KEY_MAX} printable characters"]})
        try:
            placed = services.order_place(
                customer_account=request.user,
                correlation_id=request.correlation_id,
                customer=events.Customer(**body["customer"]),
                address=events.DeliveryAddress(
                    street=body["deliveryAddress"]["street"],
                    city=body["deliveryAddress"]["city"],
                    postal_code=body["deliveryAddress"]["postalCode"],
                ),
                lines=[services.LineRequest(l["itemId"], l["quantity"], l.get("price")) for l in body["items"]],
                currency=body.get("currency"),
                total_amount=body.get("totalAmount"),
                idempotency_key=key,
                fingerprint=services.request_fingerprint(request.data) if key else "",
            )
        except services.OrderRejected as exc:
            raise ValidationError({exc.field: [str(exc)]}) from exc
        except services.CorrelationIdInUse:
            return Response(
                error_body(409, "correlation_id_in_use", f"{correlation.HEADER} {request.correlation_id} belongs to another order"),
                status=status.HTTP_409_CONFLICT,
            )
        except services.IdempotencyKeyReused:
            return Response(
                error_body(422, "idempotency_key_reused", "This Idempotency-Key was used with a different request body",
                           {"Idempotency-Key": ["already used with a different body"]}),
                status=status.HTTP_422_UNPROCESSABLE_ENTITY,
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
        parameters=[CORRELATION_PARAM],
    )
    def get(self, request: Request, order_id: uuid.UUID) -> Response:
        return Response(OrderOut(_visible_order(request, order_id)).data)


class OrderCancelView(APIView):
    @extend_schema(
        operation_id="orders_cancel",
        summary="Ask to cancel an order",
        description="The kitchen decides: before the food is ready the order ends CANCELLED; otherwise the refusal "
        "appears in the order's history. Answers 409 when the order is already past the point of no return.",
        request=CancelIn,
        responses={202: OrderOut, 409: None},
        parameters=[CORRELATION_PARAM],
    )
    def post(self, request: Request, order_id: uuid.UUID) -> Response:
        data = CancelIn(data=request.data)
        data.is_valid(raise_exception=True)
        order = _visible_order(request, order_id)
        try:
            services.order_request_cancel(order.id, reason=data.validated_data.get("reason", ""))
        except services.TooLateToCancel as exc:
            return Response(
                error_body(409, "too_late_to_cancel", f"The order is already {exc}; it can no longer be cancelled"),
                status=status.HTTP_409_CONFLICT,
            )
        return _order_response(order, status.HTTP_202_ACCEPTED)


class MenuView(ListAPIView):
    """What can be ordered, with prices in the shop's currency."""

    serializer_class = MenuItemOut
    pagination_class = None
    permission_classes = [AllowAny]

    def get_queryset(self):
        return selectors.menu_list()


class RegisterView(APIView):
    permission_classes = [AllowAny]

    @extend_schema(operation_id="auth_register", summary="Create a customer account", request=RegisterIn,
                   responses={201: TokenOut, 409: None})
    def post(self, request: Request) -> Response:
        data = RegisterIn(data=request.data)
        data.is_valid(raise_exception=True)
        body = data.validated_data
        try:
            validate_password(body["password"], User(username=body["username"], email=body.get("email", "")))
        except DjangoValidationError as exc:
            raise ValidationError({"password": list(exc.messages)}) from exc
        try:
            with transaction.atomic():
                user = User.objects.create_user(body["username"], body.get("email", ""), body["password"])
                token = Token.objects.create(user=user)
        except IntegrityError:
            return Response(error_body(409, "username_taken", f"The username {body['username']!r} is taken"),
                            status=status.HTTP_409_CONFLICT)
        return Response({"username": user.username, "token": token.key}, status=status.HTTP_201_CREATED)


class TokenView(ObtainAuthToken):
    """Exchange username and password for an API token (send it as ``Authorization: Token <key>``)."""

    @extend_schema(operation_id="auth_token", summary="Get your API token", responses={200: TokenOut})
    def post(self, request: Request, *args, **kwargs) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = serializer.validated_data["user"]
        token, _ = Token.objects.get_or_create(user=user)
        return Response({"username": user.username, "token": token.key})


INSPECTABLE = {t.name for t in TOPICS} | {f"{t.name}{DLT_SUFFIX}" for t in TOPICS}


class TopicOrderIdsView(APIView):
    permission_classes = [IsAdminUser]

    @extend_schema(
        operation_id="topics_order_ids",
        summary="Order ids seen on a topic (staff)",
        description=f"Reads the topic from the beginning without committing offsets. Topics: {', '.join(sorted(INSPECTABLE))}.",
        responses={200: TopicOrderIdsOut},
    )
    def get(self, request: Request, topic: str) -> Response:
        if topic not in INSPECTABLE:
            raise NotFound(f"unknown topic {topic!r}; choose one of {', '.join(sorted(INSPECTABLE))}")
        bootstrap = settings.PALMETTO_KAFKA_BOOTSTRAP_SERVERS
        if not bootstrap:
            return service_unavailable("Kafka is not configured for this service", "broker_unavailable")
        try:
            scan = scan_order_ids(bootstrap, f"{settings.PALMETTO_TOPIC_PREFIX}{topic}")
        except BrokerUnavailable as exc:
            return service_unavailable(f"Kafka did not answer: {exc}", "broker_unavailable")
        except UnknownTopic:
            raise NotFound(f"topic {topic!r} does not exist on the broker") from None
        return Response(TopicOrderIdsOut(scan).data)

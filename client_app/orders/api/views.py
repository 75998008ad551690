"""Orders API: thin views over services and selectors."""

from __future__ import annotations

import uuid

from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from common import correlation, events
from common.http import error_body, rebind_correlation_id

from .. import selectors, services
from .serializers import ErrorOut, MenuItemOut, OrderCreateIn, OrderOut

CORRELATION_PARAM = OpenApiParameter(
    correlation.HEADER,
    str,
    OpenApiParameter.HEADER,
    description="Correlation ID for this order (1-64 of [A-Za-z0-9._:-]); minted when absent. Echoed in the response.",
)
ERRORS = {400: ErrorOut, 404: ErrorOut, 409: ErrorOut, 503: ErrorOut}


class OrderCreateView(APIView):
    @extend_schema(
        operation_id="orders_create",
        summary="Place an order",
        request=OrderCreateIn,
        responses={201: OrderOut, **ERRORS},
        parameters=[CORRELATION_PARAM],
    )
    def post(self, request: Request) -> Response:
        data = OrderCreateIn(data=request.data)
        data.is_valid(raise_exception=True)
        body = data.validated_data
        try:
            order = services.order_place(
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
            )
        except services.OrderRejected as exc:
            raise ValidationError({exc.field: [str(exc)]}) from exc
        except services.CorrelationIdInUse:
            return Response(
                error_body(409, "correlation_id_in_use", f"{correlation.HEADER} {request.correlation_id} belongs to another order"),
                status=status.HTTP_409_CONFLICT,
            )
        location = request.build_absolute_uri(reverse("order-detail", args=[order.id]))
        return Response(
            OrderOut(selectors.order_get(order.id)).data, status=status.HTTP_201_CREATED, headers={"Location": location}
        )


class OrderDetailView(APIView):
    @extend_schema(
        operation_id="orders_retrieve",
        summary="An order with its items, totals, status and history",
        responses={200: OrderOut, 404: ErrorOut},
        parameters=[CORRELATION_PARAM],
    )
    def get(self, request: Request, order_id: uuid.UUID) -> Response:
        order = selectors.order_get(order_id)
        if order is None:
            raise NotFound(f"no order {order_id}")
        if not request.correlation_id_given:
            # Without a caller-supplied ID, answer under the order's own.
            rebind_correlation_id(request, order.correlation_id)
        return Response(OrderOut(order).data)


class MenuView(ListAPIView):
    """What can be ordered, with prices in the shop's currency."""

    serializer_class = MenuItemOut
    pagination_class = None

    def get_queryset(self):
        return selectors.menu_list()

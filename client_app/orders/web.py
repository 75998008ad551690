"""The customer's pages: log in, see your orders, and follow one live at ``/track/<orderId>/``.

Server-rendered Django templates with a few lines of inline JavaScript; no build step. The page
updates itself by **short polling**: every 2 seconds it asks ``/track/<orderId>/state/`` for the
order's state (a small JSON document) and redraws the timeline, stopping once the order is
finished. Polling rather than server-sent events because it passes every proxy and load balancer
unchanged, and because an open event stream would hold one of gunicorn's few sync/threaded worker
slots per watching customer; a 2-second poll is one cheap indexed read.

Only the order's owner (or staff) sees it: anyone else gets 404, as in the API.
"""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from common.lifecycle import CANCELLABLE, MAIN_LINE, SIDE_EXITS, TERMINAL, Status

from . import selectors
from .models import Order
from .services.cancelling import TooLateToCancel, order_request_cancel

POLL_SECONDS = 2


def _owned(request: HttpRequest, order_id: uuid.UUID) -> Order:
    order = selectors.order_get(order_id, visible_to=request.user)
    if order is None:
        raise Http404(f"no order {order_id}")
    return order


def order_state(order: Order) -> dict:
    """What the page shows of ``order``, as JSON: status, timeline, history, whether it can be cancelled."""
    status = Status(order.status)
    # The timeline: the main line; a side exit replaces the steps it cut off.
    reached = {entry.status: entry for entry in order.history.all() if entry.kind == entry.Kind.STATUS}
    steps = [s for s in MAIN_LINE if s in reached or status not in SIDE_EXITS]
    if status in SIDE_EXITS:
        steps.append(status)
    return {
        "orderId": str(order.id),
        "status": status.value,
        "statusLabel": status.label,
        "finished": status in TERMINAL,
        "cancellable": status in CANCELLABLE and order.cancellation not in (
            Order.Cancellation.REQUESTED, Order.Cancellation.CANCELLED),
        "cancellation": order.cancellation,
        "steps": [
            {
                "status": step.value,
                "label": step.label,
                "done": step in reached,
                "current": step == status,
                "at": reached[step].occurred_at.isoformat() if step in reached else None,
                "note": (reached[step].reason or reached[step].courier) if step in reached else "",
            }
            for step in steps
        ],
        "history": [
            {"kind": entry.kind, "status": entry.status, "at": entry.occurred_at.isoformat(),
             "reason": entry.reason, "courier": entry.courier}
            for entry in order.history.all()
        ],
    }


@login_required
@require_GET
def track_list(request: HttpRequest) -> HttpResponse:
    orders = selectors.orders_visible_to(request.user)[:50]
    return render(request, "orders/track_list.html", {"orders": orders})


@login_required
@require_GET
def track_page(request: HttpRequest, order_id: uuid.UUID) -> HttpResponse:
    order = _owned(request, order_id)
    return render(request, "orders/track.html", {
        "order": order, "state": order_state(order), "poll_ms": POLL_SECONDS * 1000,
        "state_url": reverse("track-state", args=[order.id]),
    })


@login_required
@require_GET
def track_state(request: HttpRequest, order_id: uuid.UUID) -> JsonResponse:
    return JsonResponse(order_state(_owned(request, order_id)))


@login_required
@require_POST
def track_cancel(request: HttpRequest, order_id: uuid.UUID) -> HttpResponse:
    """The page's cancel button: ask the kitchen (as ``POST /api/orders/{id}/cancel/`` does), then show the page."""
    order = _owned(request, order_id)
    try:
        order_request_cancel(order_id=order.id, reason=request.POST.get("reason", "")[:300])
        messages.info(request, "Cancellation requested: the kitchen decides in a moment.")
    except TooLateToCancel as exc:
        messages.error(request, exc.message)
    return redirect("track", order_id=order.id)

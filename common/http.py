"""HTTP plumbing shared by the services: correlation IDs and the one error shape.

Every error response has the same JSON body::

    {"status": 400, "code": "invalid", "message": "...", "errors": {"items[0].quantity": ["..."]}}
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from common import correlation
from common.errors import DomainError

log = logging.getLogger("palmetto.http")


def error_body(status_code: int, code: str, message: str, errors: dict[str, list[str]] | None = None) -> dict[str, Any]:
    return {"status": status_code, "code": code, "message": message, "errors": errors or {}}


class CorrelationIdMiddleware:
    """Takes ``X-Correlation-ID`` from the request (or mints one), binds it for logging, echoes it back.

    A malformed header is refused with 400 rather than silently replaced, so a
    caller never believes it is tracing an ID the platform did not use.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        given = request.headers.get(correlation.HEADER)
        if given is not None and not correlation.is_valid(given):
            # Answered under a fresh ID: every response carries one, and the malformed one is not echoed.
            refused = JsonResponse(
                error_body(
                    400,
                    "invalid_correlation_id",
                    f"{correlation.HEADER} must be 1-64 characters of letters, digits, '.', '_', ':' or '-'",
                    {correlation.HEADER: ["invalid format"]},
                ),
                status=400,
            )
            refused[correlation.HEADER] = correlation.mint()
            return refused
        request.correlation_id = given or correlation.mint()
        request.correlation_id_given = given is not None
        with correlation.bound(request.correlation_id):
            response = self.get_response(request)
        # A view may rebind request.correlation_id (e.g. to the order it served).
        response[correlation.HEADER] = request.correlation_id
        return response


def rebind_correlation_id(request: Any, correlation_id: str) -> None:
    """Make ``correlation_id`` the one echoed for this request (a DRF or a Django request)."""
    getattr(request, "_request", request).correlation_id = correlation_id


def _flatten(detail: Any, path: str = "") -> dict[str, list[str]]:
    """DRF's nested error details as ``{"items[0].quantity": ["..."]}``."""
    if isinstance(detail, dict):
        out: dict[str, list[str]] = {}
        for key, value in detail.items():
            if isinstance(key, int):  # ListField reports errors by index
                sub = f"{path}[{key}]"
            elif key == "non_field_errors":
                sub = path
            else:
                sub = f"{path}.{key}" if path else str(key)
            out.update(_flatten(value, sub))
        return out
    if isinstance(detail, list):
        if all(not isinstance(v, (dict, list)) for v in detail):
            return {path or "non_field_errors": [str(v) for v in detail]}
        out = {}
        for i, value in enumerate(detail):
            if value:
                out.update(_flatten(value, f"{path}[{i}]"))
        return out
    return {path or "non_field_errors": [str(detail)]}


def exception_handler(exc: Exception, context: dict) -> Response | None:
    """DRF exception handler producing the one error shape; renders every :class:`DomainError`."""
    if isinstance(exc, DomainError):
        message = f"{exc.field}: {exc.message}" if exc.field else exc.message
        # A 401 names the scheme that would succeed (RFC 9110), as DRF does for its own 401s.
        headers = {"WWW-Authenticate": "Token"} if exc.status == 401 else None
        return Response(error_body(exc.status, exc.code, message, exc.errors), status=exc.status, headers=headers)
    if isinstance(exc, (OperationalError, InterfaceError)):
        # The database is unreachable: say so instead of a 500. The request's transaction rolled back.
        log.warning("database unavailable: %s", exc)
        return service_unavailable("The database is unavailable; please retry shortly.", "database_unavailable")
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        errors = _flatten(exc.detail)
        first = next(iter(errors.items()), ("", ["invalid"]))
        message = f"{first[0]}: {first[1][0]}" if first[0] and first[0] != "non_field_errors" else first[1][0]
        response.data = error_body(response.status_code, "invalid", message, errors)
    else:
        detail = getattr(exc, "detail", str(exc))
        code = getattr(detail, "code", None) or getattr(exc, "default_code", "error")
        response.data = error_body(response.status_code, str(code), str(detail))
    return response


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return JsonResponse(error_body(404, "not_found", f"No resource at {request.path}"), status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    log.error("unhandled error on %s %s", request.method, request.path)
    return JsonResponse(error_body(500, "server_error", "Internal error; the incident is logged."), status=500)


def service_unavailable(message: str, code: str = "unavailable") -> Response:
    return Response(error_body(503, code, message), status=status.HTTP_503_SERVICE_UNAVAILABLE)

"""OpenAPI generation: every operation documents the one error shape for the errors it can answer."""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.throttling import BaseThrottle


class ErrorSerializer(serializers.Serializer):
    """The body of every error response."""

    status = serializers.IntegerField(help_text="The HTTP status code.")
    code = serializers.CharField(help_text="Machine-readable error code, e.g. invalid, not_found, throttled.")
    message = serializers.CharField(help_text="What went wrong, for humans.")
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text='Problems per field, e.g. {"items[0].quantity": ["..."]}; empty when not about fields.',
    )


ERROR_DESCRIPTIONS = {
    "400": "Invalid request (body, query or X-Correlation-ID header)",
    "401": "Missing or invalid credentials",
    "402": "Payment impossible (e.g. paying by card without a Palmetto card)",
    "403": "Authenticated but not allowed",
    "404": "No such resource (or not yours), or no such page",
    "409": "Conflicts with the resource's state",
    "415": "Unsupported media type",
    "422": "Idempotency-Key reused with a different body",
    "429": "Too many requests",
    "503": "A dependency (database or Kafka) is unavailable",
}


class PalmettoAutoSchema(AutoSchema):
    """AutoSchema that adds the error responses an operation can produce, all with :class:`ErrorSerializer`."""

    def _error_codes(self) -> list[str]:
        codes = ["400", "401", "503"]
        if not any(isinstance(p, AllowAny) for p in self.view.get_permissions()):
            codes.append("403")
        if "{" in self.path or (self.method == "GET" and self._get_paginator() is not None):
            codes.append("404")  # an unknown resource, or a page past the end
        if self.method in ("POST", "PUT", "PATCH"):
            codes += ["403", "415"]
        if any(isinstance(t, BaseThrottle) for t in self.view.get_throttles()):
            codes.append("429")
        return sorted(set(codes))

    def _get_response_bodies(self, direction="response"):
        """Views declare extra error codes as ``{409: None}``; those get the error shape too."""
        responses = super()._get_response_bodies(direction)
        declared = [code for code, body in responses.items() if code >= "400" and "content" not in body]
        for code in sorted(set(self._error_codes()) | set(declared)):
            if code not in responses or code in declared:
                responses[code] = self._get_response_for_code(
                    OpenApiResponse(ErrorSerializer, description=ERROR_DESCRIPTIONS[code]), code, direction=direction
                )
        return responses

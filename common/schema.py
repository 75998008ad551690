"""OpenAPI generation: every operation documents the one error shape for the errors it can answer."""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.throttling import BaseThrottle

from common import correlation
from common.events import CORRELATION_ID_RE

# Every endpoint reads it (common.http.CorrelationIdMiddleware refuses a malformed one with 400).
CORRELATION_PARAM = OpenApiParameter(
    correlation.HEADER,
    {"type": "string", "minLength": 1, "maxLength": 64, "pattern": CORRELATION_ID_RE.pattern},
    OpenApiParameter.HEADER,
    description="Correlation ID (1-64 of [A-Za-z0-9._:-], starting with a letter or digit); minted when absent. "
    "For a new order it becomes the order's ID. Echoed in the response.",
)


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


# DRF refuses NUL characters in every CharField, and a CharField that trims whitespace refuses text
# that is only whitespace. The schema says so, naming exactly the characters str.strip() removes (regex
# engines disagree on what \s means, so it is spelled out).
_STRIPPED = "".join(f"\\u{ord(c):04x}" for c in map(chr, range(0x3001)) if c.isspace())
NO_NUL = r"^[^\u0000]*$"
NOT_BLANK = rf"^[^\u0000]*[^\u0000{_STRIPPED}][^\u0000]*$"


RETRY_AFTER = {
    "description": "Seconds until the limit lets this request through.",
    "schema": {"type": "integer", "minimum": 0},
    "required": True,
}
CORRELATION_ECHO = {
    "description": "The request's correlation ID (the order's, for an order), minted when none was sent.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 64},
    "required": True,
}


class PalmettoAutoSchema(AutoSchema):
    """AutoSchema that adds the error responses an operation can produce, all with :class:`ErrorSerializer`."""

    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        """Say what DRF's CharField enforces beyond its lengths: not blank after trimming, no NUL characters."""
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        plain_text = type(field) is serializers.CharField  # subclasses (regex, email...) state their own format
        if direction == "request" and plain_text and schema.get("type") == "string" and "pattern" not in schema:
            if field.allow_blank:
                schema["pattern"] = NO_NUL
            else:
                schema["minLength"] = max(1, schema.get("minLength", 0))
                schema["pattern"] = NOT_BLANK if field.trim_whitespace else NO_NUL
        return schema

    def _insert_field_validators(self, field, schema):
        super()._insert_field_validators(field, schema)
        # drf-spectacular offers "" as a second branch of a oneOf beside any pattern; NO_NUL admits "" itself,
        # and "" matching both branches would make it invalid. One schema, then.
        branches = schema.get("oneOf")
        if branches and branches[0].get("pattern") == NO_NUL and branches[1] == {"type": "string", "maxLength": 0}:
            schema.update(schema.pop("oneOf")[0])

    def get_override_parameters(self):
        return [*super().get_override_parameters(), CORRELATION_PARAM]

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
        if "429" in responses:
            responses["429"].setdefault("headers", {})["Retry-After"] = RETRY_AFTER
        for response in responses.values():
            response.setdefault("headers", {})[correlation.HEADER] = CORRELATION_ECHO
        return responses

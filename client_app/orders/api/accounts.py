"""Customer accounts: register, exchange a username and password for the API token, revoke it.

Both POST endpoints are rate limited per client address and per username
(failed attempts only), in the shared cache: see :mod:`.throttles`.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from common.errors import DomainError

from ..services.accounts import account_login, account_register, account_token_revoke
from .serializers import RegisterIn, TokenIn, TokenOut
from .throttles import AuthAddressThrottle, AuthUsernameThrottle


class _GuardedView(APIView):
    """Counts a refused attempt against its username (:class:`AuthUsernameThrottle`)."""

    throttle_classes = [AuthAddressThrottle, AuthUsernameThrottle]

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, DomainError) and self.request.method == "POST":
            AuthUsernameThrottle().record_failure(self.request, self)
        return super().handle_exception(exc)


class RegisterView(_GuardedView):
    permission_classes = [AllowAny]

    @extend_schema(operation_id="auth_register", summary="Create a customer account", request=RegisterIn,
                   responses={201: TokenOut, 409: None, 422: None},
                   description="422 when the password has the documented shape but is too common, entirely "
                   "numeric or too like the username or email.")
    def post(self, request: Request) -> Response:
        data = RegisterIn(data=request.data)
        data.is_valid(raise_exception=True)
        body = data.validated_data
        token = account_register(username=body["username"], password=body["password"], email=body.get("email", ""))
        return Response({"username": token.user.username, "token": token.key}, status=status.HTTP_201_CREATED)


class TokenView(_GuardedView):
    """Exchange username and password for an API token (send it as ``Authorization: Token <key>``); revoke it."""

    def get_permissions(self):
        return [IsAuthenticated()] if self.request.method == "DELETE" else [AllowAny()]

    @extend_schema(operation_id="auth_token", summary="Get your API token", request=TokenIn,
                   responses={200: TokenOut, 401: None})
    def post(self, request: Request) -> Response:
        data = TokenIn(data=request.data)
        data.is_valid(raise_exception=True)
        token = account_login(username=data.validated_data["username"], password=data.validated_data["password"])
        return Response({"username": token.user.username, "token": token.key})

    @extend_schema(operation_id="auth_token_revoke", summary="Revoke your API token",
                   description="The token stops working at once; POST your credentials again for a new one.",
                   responses={204: OpenApiResponse(description="Revoked")})
    def delete(self, request: Request) -> Response:
        account_token_revoke(user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

"""Customer accounts: register, and exchange a username and password for the API token."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ..services.accounts import account_register, account_token
from .serializers import RegisterIn, TokenOut


class RegisterView(APIView):
    permission_classes = [AllowAny]

    @extend_schema(operation_id="auth_register", summary="Create a customer account", request=RegisterIn,
                   responses={201: TokenOut, 409: None})
    def post(self, request: Request) -> Response:
        data = RegisterIn(data=request.data)
        data.is_valid(raise_exception=True)
        body = data.validated_data
        token = account_register(username=body["username"], password=body["password"], email=body.get("email", ""))
        return Response({"username": token.user.username, "token": token.key}, status=status.HTTP_201_CREATED)


class TokenView(ObtainAuthToken):
    """Exchange username and password for an API token (send it as ``Authorization: Token <key>``)."""

    @extend_schema(operation_id="auth_token", summary="Get your API token", responses={200: TokenOut})
    def post(self, request: Request, *args, **kwargs) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        token = account_token(user=serializer.validated_data["user"])
        return Response({"username": token.user.username, "token": token.key})

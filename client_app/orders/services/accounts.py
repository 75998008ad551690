"""Customer accounts and their API tokens."""

from __future__ import annotations

from django.contrib.auth import authenticate
from django.contrib.auth.models import User
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from rest_framework.authtoken.models import Token

from common.errors import DomainError


class PasswordRejected(DomainError):
    """The password meets the documented shape but breaks a password rule (too common, like the username...)."""

    status, code = 422, "password_rejected"


class InvalidCredentials(DomainError):
    """No active account has this username and password (which of the two is wrong is not revealed)."""

    status, code = 401, "invalid_credentials"


class UsernameTaken(DomainError):
    status, code = 409, "username_taken"


def account_register(*, username: str, password: str, email: str = "") -> Token:
    """Create a customer account and its API token, in one transaction.

    Raises :class:`PasswordRejected` naming every broken rule and :class:`UsernameTaken`.
    """
    try:
        validate_password(password, User(username=username, email=email))
    except ValidationError as exc:
        raise PasswordRejected(exc.messages[0], field="password", errors={"password": list(exc.messages)}) from exc
    try:
        with transaction.atomic():
            user = User.objects.create_user(username, email, password)
            return Token.objects.create(user=user)
    except IntegrityError:
        raise UsernameTaken(f"The username {username!r} is taken") from None


def account_token(*, user: User) -> Token:
    """The account's API token, created on first use."""
    token, _ = Token.objects.get_or_create(user=user)
    return token


def account_login(*, username: str, password: str) -> Token:
    """The API token of the active account with these credentials; :class:`InvalidCredentials` otherwise."""
    user = authenticate(username=username, password=password)
    if user is None:
        raise InvalidCredentials("Unable to log in with the given username and password")
    return account_token(user=user)


def account_token_revoke(*, user: User) -> None:
    """Delete the account's API token: requests carrying it answer 401; logging in again mints a new one."""
    Token.objects.filter(user=user).delete()

"""Customer accounts and their API tokens."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from rest_framework.authtoken.models import Token

from common.errors import DomainError


class PasswordRejected(DomainError):
    """The password breaks one of the configured password rules."""


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

"""Rate limits of the Client API, counted in the shared cache (the service's database), not per process.

Every gunicorn worker on every host sees the same counts, so a limit means
what it says however many processes serve the API. Each answers 429 with
``Retry-After`` (documented in the schema).
"""

from __future__ import annotations

import hashlib

from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle, UserRateThrottle


class OrderCreateThrottle(UserRateThrottle):
    """Limits how fast one customer can place orders (PALMETTO_ORDER_RATE); reads are not limited."""

    scope = "order_create"

    def allow_request(self, request, view) -> bool:
        return request.method != "POST" or super().allow_request(request, view)


class AuthAddressThrottle(SimpleRateThrottle):
    """Logins and registrations from one client address (PALMETTO_AUTH_RATE), successful or not."""

    scope = "auth_address"

    def get_cache_key(self, request: Request, view) -> str | None:
        if request.method != "POST":
            return None
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class AuthUsernameThrottle(SimpleRateThrottle):
    """Failed logins and registrations naming one username (PALMETTO_AUTH_FAILURE_RATE), from any address.

    Only failures count (the view calls :meth:`record_failure`), so a customer
    who logs in correctly is never locked out by their own success, while
    password guessing against one account is limited however many addresses
    the guesses come from. A username at its limit answers 429 even for the
    right password until the window passes.
    """

    scope = "auth_username"

    def get_cache_key(self, request: Request, view) -> str | None:
        data = request.data if request.method == "POST" else None
        username = data.get("username") if isinstance(data, dict) else None
        if not isinstance(username, str) or not username:
            return None
        digest = hashlib.sha256(username.casefold().encode()).hexdigest()  # any text stays a valid cache key
        return self.cache_format % {"scope": self.scope, "ident": digest}

    def throttle_success(self) -> bool:
        return True  # a permitted attempt is not counted: only failures are (record_failure)

    def record_failure(self, request: Request, view) -> None:
        """Count one failed attempt for the request's username."""
        key = self.get_cache_key(request, view)
        if key is None or self.rate is None:
            return
        now = self.timer()
        history = [t for t in self.cache.get(key, []) if t > now - self.duration]
        self.cache.set(key, [now, *history], self.duration)

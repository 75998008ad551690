"""Liveness and readiness for load balancers and process managers, on every service.

``/healthz``: the process answers (nothing else is checked, so a database
outage never gets a healthy web process killed). ``/readyz``: the service can
do its work -- its database and Kafka answer, and Kafka accepts its events
(a write refused by the broker's authorizer stays in the outbox and shows up
here as ``outbox``) -- and says which one does not.
"""

from __future__ import annotations

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from common.db import drop_broken_connection
from common.declaration import current_service
from common.http import error_body
from common.kafka.admin import broker_problem
from common.outbox import outbox_refused


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def _database_problem() -> str | None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return None
    except Exception as exc:
        drop_broken_connection()
        return str(exc).strip() or type(exc).__name__


def _outbox_problem() -> str | None:
    try:
        service = current_service()
    except RuntimeError:  # not running as one service (the in-process tests)
        return None
    try:
        return outbox_refused(service.outbox)
    except Exception:  # the database check reports an unreachable database
        drop_broken_connection()
        return None


@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    bootstrap = settings.PALMETTO_CONFIG.kafka_bootstrap_servers
    problems = {
        "database": _database_problem(),
        "kafka": broker_problem(bootstrap) if bootstrap else "KAFKA_BOOTSTRAP_SERVERS is not set",
        "outbox": _outbox_problem(),
    }
    failed = {name: [problem] for name, problem in problems.items() if problem}
    if failed:
        return JsonResponse(error_body(503, "not_ready", f"unavailable: {', '.join(failed)}", failed), status=503)
    return JsonResponse({"status": "ready", "database": "ok", "kafka": "ok"})

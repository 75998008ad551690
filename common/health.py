"""Liveness and readiness for load balancers and process managers, on every service.

``/healthz``: the process answers (nothing else is checked, so a database
outage never gets a healthy web process killed). ``/readyz``: the service can
do its work -- its database and Kafka answer -- and says which one does not.
"""

from __future__ import annotations

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from common.db import drop_broken_connection
from common.http import error_body
from common.kafka.admin import broker_problem


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


@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    bootstrap = settings.PALMETTO_CONFIG.kafka_bootstrap_servers
    problems = {
        "database": _database_problem(),
        "kafka": broker_problem(bootstrap) if bootstrap else "KAFKA_BOOTSTRAP_SERVERS is not set",
    }
    failed = {name: [problem] for name, problem in problems.items() if problem}
    if failed:
        return JsonResponse(error_body(503, "not_ready", f"unavailable: {', '.join(failed)}", failed), status=503)
    return JsonResponse({"status": "ready", "database": "ok", "kafka": "ok"})

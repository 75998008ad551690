"""URL patterns every service mounts: the admin, health checks, Prometheus metrics and, when asked to, static files."""

from __future__ import annotations

import re

from django.conf import settings
from django.contrib import admin
from django.urls import path, re_path
from django.views.static import serve

from common import health, metrics


def service_urls() -> list:
    patterns = [
        path("admin/", admin.site.urls),
        path("healthz", health.healthz, name="healthz"),
        path("readyz", health.readyz, name="readyz"),
        path("metrics", metrics.metrics_view, name="metrics"),
    ]
    if settings.PALMETTO_CONFIG.serve_static:
        # The local stack runs gunicorn without a web server in front; let Django serve the admin's assets.
        patterns.append(
            re_path(
                rf"^{re.escape(settings.STATIC_URL.lstrip('/'))}(?P<path>.*)$",
                serve,
                {"document_root": settings.STATIC_ROOT},
            )
        )
    return patterns

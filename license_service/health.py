"""Liveness and readiness probes.

``/healthz`` answers from memory: the process is up and serving. ``/readyz`` proves the
dependencies a request needs: each database alias (a ``SELECT 1``) and the cache (a write
read back, because django-redis is configured to swallow errors and would otherwise report
a dead Redis as an empty cache). A load balancer takes a worker out of rotation on 503.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connections
from drf_spectacular.utils import extend_schema
from kombu.connection import Connection
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from license_service.api.errors import error_response
from license_service.api.schema import error_responses

logger = logging.getLogger(__name__)

READY_RETRY_AFTER = "5"


class HealthSerializer(serializers.Serializer[Any]):
    status = serializers.ChoiceField(choices=["ok"])


class ReadinessSerializer(serializers.Serializer[Any]):
    status = serializers.ChoiceField(choices=["ok"])
    checks = serializers.DictField(
        child=serializers.ChoiceField(choices=["ok", "error"]),
        help_text="One entry per component: database, database_replica (if configured), "
        "cache, broker (when a networked Celery broker is configured).",
    )


def _check_database(alias: str) -> bool:
    try:
        with connections[alias].cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception:
        logger.warning("readiness: database %s unreachable", alias, exc_info=True)
        # A half-open connection must not be reused by the next request of this thread.
        connections[alias].close()
        return False
    return True


def _check_cache() -> bool:
    probe_key = f"readyz:{uuid.uuid4().hex}"
    token = uuid.uuid4().hex
    try:
        cache.set(probe_key, token, timeout=10)
        ok: bool = cache.get(probe_key) == token
        cache.delete(probe_key)
    except Exception:
        logger.warning("readiness: cache unreachable", exc_info=True)
        return False
    if not ok:
        logger.warning("readiness: cache did not return what was written")
    return ok


# Brokers that run in the process or on its disk (make run, tests): nothing to probe.
EMBEDDED_BROKERS = ("filesystem://", "memory://")
BROKER_TIMEOUT = 1.0


def broker_is_networked() -> bool:
    return not str(settings.CELERY_BROKER_URL).startswith(EMBEDDED_BROKERS)


def _check_broker() -> bool:
    """A connection to the Celery broker (Redis or RabbitMQ), one attempt, 1 s at most:
    without it changes are still committed with their events, but no background work runs."""
    try:
        with Connection(  # type: ignore[no-untyped-call]  # kombu ships no types
            settings.CELERY_BROKER_URL,
            connect_timeout=BROKER_TIMEOUT,
            transport_options={"socket_timeout": BROKER_TIMEOUT},
        ) as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=1)
    except Exception:
        logger.warning("readiness: broker unreachable", exc_info=True)
        return False
    return True


def readiness_checks() -> dict[str, bool]:
    checks = {
        ("database" if alias == "default" else f"database_{alias}"): _check_database(alias)
        for alias in connections
    }
    checks["cache"] = _check_cache()
    if broker_is_networked():
        checks["broker"] = _check_broker()
    return checks


class _ProbeApi(APIView):
    authentication_classes = ()
    permission_classes = (AllowAny,)


class HealthzApi(_ProbeApi):
    @extend_schema(
        tags=["ops"],
        summary="Liveness: the process answers (no I/O)",
        responses={200: HealthSerializer},
        auth=[],
    )
    def get(self, request: Request) -> Response:
        return Response({"status": "ok"})


class ReadyzApi(_ProbeApi):
    @extend_schema(
        tags=["ops"],
        summary="Readiness: database and cache reachable",
        description="503 `service_unavailable` names the failed components in `details.failed`.",
        responses={200: ReadinessSerializer, **error_responses("service_unavailable")},
        auth=[],
    )
    def get(self, request: Request) -> Any:
        checks = readiness_checks()
        failed = [name for name, ok in checks.items() if not ok]
        states = {name: "ok" if ok else "error" for name, ok in checks.items()}
        if failed:
            return error_response(
                code="service_unavailable",
                message=f"Not ready: {', '.join(failed)} unreachable.",
                status=503,
                details={"failed": failed, "checks": states},
                headers={"Retry-After": READY_RETRY_AFTER},
            )
        return Response({"status": "ok", "checks": states})

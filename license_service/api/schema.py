"""OpenAPI helpers shared by every app's views (drf-spectacular)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample, OpenApiResponse
from rest_framework import serializers

STATUS_OF = {
    "validation_error": 400,
    "not_authenticated": 401,
    "permission_denied": 403,
    "license_suspended": 403,
    "license_cancelled": 403,
    "license_expired": 403,
    "not_found": 404,
    "license_not_found": 404,
    "activation_not_found": 404,
    "method_not_allowed": 405,
    "seat_limit_exceeded": 409,
    "invalid_transition": 409,
    "already_entitled": 409,
    "key_conflict": 409,
    "idempotency_conflict": 409,
    "payload_too_large": 413,
    "unsupported_media_type": 415,
    "throttled": 429,
    "server_error": 500,
    "service_unavailable": 503,
}


class ErrorSerializer(serializers.Serializer[Any]):
    """The SPEC §3 envelope."""

    success = serializers.BooleanField(default=False)
    error = serializers.ChoiceField(choices=sorted(STATUS_OF))
    message = serializers.CharField()
    details = serializers.DictField(child=serializers.JSONField())


def error_responses(*codes: str) -> dict[int, Any]:
    """``responses=`` entries for these error codes, grouped by HTTP status."""
    by_status: dict[int, list[str]] = {}
    for code in codes:
        by_status.setdefault(STATUS_OF[code], []).append(code)
    return {
        status: OpenApiResponse(
            response=ErrorSerializer,
            description=" | ".join(grouped),
            examples=[
                OpenApiExample(
                    code,
                    value={"success": False, "error": code, "message": "…", "details": {}},
                    response_only=True,
                    status_codes=[str(status)],
                )
                for code in grouped
            ],
        )
        for status, grouped in by_status.items()
    }

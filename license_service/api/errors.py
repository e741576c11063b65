"""The one error envelope of SPEC §3, as a plain Django response.

Used by the DRF exception handler, the Django error handlers (404/400/403/500) and the
lean product views, so every error of every endpoint has the same shape.
"""

from __future__ import annotations

from typing import Any

from django.http import JsonResponse


def error_response(
    *,
    code: str,
    message: str,
    status: int,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JsonResponse:
    response = JsonResponse(
        {"success": False, "error": code, "message": message, "details": details or {}},
        status=status,
    )
    for name, value in (headers or {}).items():
        response[name] = value
    return response

"""DRF's EXCEPTION_HANDLER: domain errors, DRF's and Django's own, all in the SPEC envelope."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import Http404, JsonResponse
from rest_framework import exceptions as drf

from license_service.api.errors import error_response
from license_service.context import request_id_var
from license_service.errors import DomainError, PayloadTooLarge, Throttled

logger = logging.getLogger("license_service.errors")

DATABASE_RETRY_AFTER = "5"


def _field_details(detail: Any) -> dict[str, list[str]]:
    """DRF's nested ``ValidationError.detail`` flattened to ``{"field": ["problem", …]}``."""
    if isinstance(detail, dict):
        out: dict[str, list[str]] = {}
        for field, problems in detail.items():
            if isinstance(problems, dict):
                for sub, sub_problems in _field_details(problems).items():
                    out[f"{field}.{sub}"] = sub_problems
            elif isinstance(problems, list):
                out[str(field)] = [str(p) for p in problems]
            else:
                out[str(field)] = [str(problems)]
        return out
    if isinstance(detail, list):
        return {"non_field_errors": [str(p) for p in detail]}
    return {"non_field_errors": [str(detail)]}


def _message(detail: Any) -> str:
    """One human sentence; simplejwt and others put a dict with ``detail`` in it."""
    if isinstance(detail, dict):
        detail = detail.get("detail") or "Request refused."
    return str(detail)


def domain_error_response(exc: DomainError) -> JsonResponse:
    headers = {"Retry-After": str(exc.wait)} if isinstance(exc, Throttled) else None
    if exc.code == "service_unavailable":
        headers = {"Retry-After": DATABASE_RETRY_AFTER}
    return error_response(
        code=exc.code,
        message=exc.message,
        status=exc.http_status,
        details=exc.details,
        headers=headers,
    )


def database_unavailable_response() -> JsonResponse:
    return error_response(
        code="service_unavailable",
        message="The database cannot be reached; retry later.",
        status=503,
        headers={"Retry-After": DATABASE_RETRY_AFTER},
    )


def server_error_response() -> JsonResponse:
    return error_response(
        code="server_error",
        message=f"Internal error; quote request id {request_id_var.get() or '-'} to support.",
        status=500,
    )


_DRF_CODES: list[tuple[type[drf.APIException], str]] = [
    (drf.NotAuthenticated, "not_authenticated"),
    (drf.AuthenticationFailed, "not_authenticated"),
    (drf.PermissionDenied, "permission_denied"),
    (drf.NotFound, "not_found"),
    (drf.MethodNotAllowed, "method_not_allowed"),
    (drf.UnsupportedMediaType, "unsupported_media_type"),
    (drf.NotAcceptable, "not_acceptable"),
    (drf.Throttled, "throttled"),
    (drf.ParseError, "validation_error"),
    (drf.ValidationError, "validation_error"),
]


def exception_handler(exc: Exception, context: dict[str, Any]) -> JsonResponse:
    if isinstance(exc, RequestDataTooBig):  # Django refuses to read the body (its size limit)
        exc = PayloadTooLarge()
    if isinstance(exc, DjangoPermissionDenied):
        exc = drf.PermissionDenied()
    if isinstance(exc, DomainError):
        return domain_error_response(exc)
    if isinstance(exc, Http404):
        return error_response(code="not_found", message="Not found.", status=404)
    if isinstance(exc, drf.APIException):
        return _api_exception_response(exc, context)
    if isinstance(exc, (OperationalError, InterfaceError)):
        logger.warning("database unavailable: %s", exc.__class__.__name__)
        return database_unavailable_response()
    what = "database error" if isinstance(exc, DatabaseError) else "unhandled error"
    logger.exception(what, extra={"request_id": request_id_var.get()})
    return server_error_response()


def _api_exception_response(exc: drf.APIException, context: dict[str, Any]) -> JsonResponse:
    """DRF's own exceptions, in the SPEC's envelope with their codes and headers."""
    code = next((c for cls, c in _DRF_CODES if isinstance(exc, cls)), "error")
    if isinstance(exc, drf.ValidationError):
        return error_response(
            code=code, message="Invalid input.", status=400, details=_field_details(exc.detail)
        )
    headers: dict[str, str] = {}
    status = exc.status_code
    if isinstance(exc, (drf.NotAuthenticated, drf.AuthenticationFailed)):
        request = context.get("request")
        view = context.get("view")
        auth_header = view.get_authenticate_header(request) if view and request else None
        headers["WWW-Authenticate"] = auth_header or 'Bearer realm="api"'
        status = 401
    wait = getattr(exc, "wait", None)
    if isinstance(exc, drf.Throttled) and wait is not None:
        headers["Retry-After"] = str(int(wait) + 1)
    return error_response(code=code, message=_message(exc.detail), status=status, headers=headers)

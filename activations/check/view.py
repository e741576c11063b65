"""The check's views: GET /api/v1/product/check/<key> and POST /api/v1/product/check.

Plain Django function views: the input parsed, the read path called (``read.check``), the
outcome recorded in the metrics, errors answered with the SPEC envelope. The OpenAPI
document describes them through two documentation-only DRF views (``CheckApi``,
``CheckPostApi``), routed after them on the same paths: never reached (Django takes the
first pattern that matches), enumerated by drf-spectacular, which documents DRF views only.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions as drf
from rest_framework.views import APIView

from activations.check.limits import CHECK_ERRORS, PRODUCT_TAG, limit_ip
from activations.serializers import (
    CheckInputSerializer,
    CheckOutputSerializer,
    CheckQuerySerializer,
    check_params,
)
from activations.tokens import check_with_tokens
from license_service import metrics
from license_service.api.errors import error_response
from license_service.api.exceptions import database_unavailable_response, domain_error_response
from license_service.api.parsers import parse_json_object
from license_service.api.schema import error_responses
from license_service.errors import DomainError, PayloadTooLarge
from licensing.keys import MAX_KEY_INPUT_LENGTH


def outcome_code(exc: Exception) -> str:
    if isinstance(exc, DomainError):
        return exc.code
    if isinstance(exc, (drf.ParseError, drf.ValidationError)):
        return "validation_error"
    return "other"


def _not_allowed(method: str | None, allowed: str) -> HttpResponse:
    return error_response(
        code="method_not_allowed",
        message=f'Method "{method}" not allowed.',
        status=405,
        headers={"Allow": allowed},
    )


def _check_recorded(
    request: HttpRequest,
    raw_key: str | None,
    params: Callable[[], tuple[str | None, str | None, str | None]],
) -> HttpResponse:
    """A check with its outcome in the metrics. ``params`` parses the input (the key too,
    when ``raw_key`` is None); a request refused for its input still counts against its
    IP (and a throttled IP is told so rather than what was wrong)."""
    try:
        try:
            key, product_slug, instance = params()
        except DomainError:
            limit_ip(request)
            raise
        raw = raw_key if raw_key is not None else key
        assert raw is not None  # noqa: S101 (check_params requires it)
        response = check_with_tokens(request, raw, product_slug, instance)
    except Exception as exc:
        metrics.record_check(outcome_code(exc))
        raise
    metrics.record_check("found")
    return response


@csrf_exempt
def check_get(request: HttpRequest, license_key: str) -> HttpResponse:
    """GET (and HEAD) /api/v1/product/check/<key>."""
    method = request.method
    if method not in {"GET", "HEAD"}:
        return _not_allowed(method, "GET, HEAD")
    try:
        if not request.META.get("QUERY_STRING"):  # the usual check: nothing to parse
            return _check_recorded(request, license_key, _no_params)
        params = partial(check_params, request.GET, with_key=False)
        return _check_recorded(request, license_key, params)
    except DomainError as exc:
        return domain_error_response(exc)
    except (OperationalError, InterfaceError):
        return database_unavailable_response()


def _no_params() -> tuple[None, None, None]:
    return None, None, None


@csrf_exempt
def check_post(request: HttpRequest) -> HttpResponse:
    """POST /api/v1/product/check (the key in the body)."""
    if request.method != "POST":
        return _not_allowed(request.method, "POST")
    try:
        return _check_recorded(request, None, partial(_post_params, request))
    except DomainError as exc:
        return domain_error_response(exc)
    except (OperationalError, InterfaceError):
        return database_unavailable_response()


def _post_params(request: HttpRequest) -> tuple[str | None, str | None, str | None]:
    return check_params(_json_body(request), with_key=True)


# --- the OpenAPI document ------------------------------------------------------------------


# Documentation only: the OpenAPI operations of ``check_get`` and ``check_post`` (never
# routed; no docstring, which the schema would take for the operation's description).


class CheckApi(APIView):
    authentication_classes = ()
    permission_classes = ()

    @extend_schema(
        tags=[PRODUCT_TAG],
        summary="Check a license key (US4)",
        description="Prefer POST /check, which keeps the key out of URLs and access logs.",
        parameters=[
            OpenApiParameter(
                "license_key",
                {"type": "string", "minLength": 1, "maxLength": MAX_KEY_INPUT_LENGTH},
                OpenApiParameter.PATH,
            ),
            CheckQuerySerializer,
        ],
        responses={200: CheckOutputSerializer, **error_responses(*CHECK_ERRORS)},
    )
    def get(self, request: HttpRequest, license_key: str) -> HttpResponse:
        return check_get(request, license_key)


class CheckPostApi(APIView):
    authentication_classes = ()
    permission_classes = ()

    @extend_schema(
        tags=[PRODUCT_TAG],
        summary="Check a license key (US4), key in the body",
        request=CheckInputSerializer,
        responses={
            200: CheckOutputSerializer,
            **error_responses(*CHECK_ERRORS, "unsupported_media_type"),
        },
    )
    def post(self, request: HttpRequest) -> HttpResponse:
        return check_post(request)


def _json_body(request: HttpRequest) -> dict[str, Any]:
    """The body as a JSON object, as DRF's parser would have it (empty body: ``{}``)."""
    try:
        raw = request.body
    except RequestDataTooBig as exc:
        raise PayloadTooLarge() from exc
    if not raw:
        return {}
    if request.content_type != "application/json":
        raise _UnsupportedMediaType(request.content_type or "")
    try:
        return parse_json_object(raw)
    except drf.ParseError as exc:
        raise _BadBody(str(exc.detail)) from exc


class _BadBody(DomainError):
    code = "validation_error"
    http_status = 400


class _UnsupportedMediaType(DomainError):
    code = "unsupported_media_type"
    http_status = 415

    def __init__(self, media_type: str):
        super().__init__(f'Unsupported media type "{media_type}" in request.')

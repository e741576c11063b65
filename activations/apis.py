"""Product API (SPEC §6: activate, deactivate, check) and the brand-side seat release.

The license key is the product API's credential, so every call is rate-limited per client
IP and per key, and answers naming no license (unknown key, failed checksum, or no license
for that product) count against a much lower per-IP limit. That limit is checked before
any lookup and counted atomically after one, so neither a slow nor a concurrent burst of
guesses gets more than its count of ``license_not_found`` answers per window.

Once an IP has spent that budget, it is still answered for a key together with an
instance that holds a seat of it (check with ``instance_identifier``, activate again,
deactivate): a guesser cannot know such a pair, and one mistyped key must not cut off
every site behind a shared host. Anything else from that IP is 429 until the window ends,
answered the same whether the key exists or not, and a refused request writes nothing but
its IP's counter (no key counter, cache entry or generation stamp).

The check endpoints are the hot path: they are DRF views only for the OpenAPI schema and
run as plain Django views (``LeanApiView``), counting the rate limits and reading the cached
answer in one round trip to the cache.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions as drf
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from activations import services
from activations.errors import LicenseNotFound
from activations.selectors import (
    CacheResult,
    CheckData,
    check_answer,
    check_body,
    check_cache_lookup,
    check_data,
    check_data_unwritten,
    instance_active_on,
    iso_datetime,
    json_body,
    rendered_body,
)
from activations.serializers import (
    ActivateOutputSerializer,
    ActivationInputSerializer,
    CheckInputSerializer,
    CheckOutputSerializer,
    CheckQuerySerializer,
    DeactivateOutputSerializer,
    check_params,
)
from audit.services import Actor
from brands.authentication import BRAND_AUTHENTICATION, BrandPrincipal
from brands.permissions import IsBrand
from license_service import metrics
from license_service.api.errors import error_response
from license_service.api.exceptions import database_unavailable_response, domain_error_response
from license_service.api.parsers import parse_json_object
from license_service.api.schema import error_responses
from license_service.errors import DomainError, PayloadTooLarge, Throttled
from license_service.logging import bind_license_key
from license_service.middleware import client_ip
from license_service.ratelimit import Window, rate_limit_hit, rate_limit_spent, rate_window
from licensing.keys import MAX_KEY_INPUT_LENGTH, canonical_license_key
from licensing.nearcache import NearCache, near_cache

_T = TypeVar("_T")

PRODUCT_TAG = "product"
IP_SCOPE = "product-ip"
KEY_SCOPE = "product-key"
UNKNOWN_KEY_SCOPE = "product-unknown-key-ip"

ACTIVATE_ERRORS = (
    "validation_error",
    "unsupported_media_type",
    "license_not_found",
    "license_suspended",
    "license_cancelled",
    "license_expired",
    "seat_limit_exceeded",
    "throttled",
)
DEACTIVATE_ERRORS = (
    "validation_error",
    "unsupported_media_type",
    "license_not_found",
    "activation_not_found",
    "throttled",
)
CHECK_ERRORS = ("validation_error", "license_not_found", "throttled")


# --- rate limits ---------------------------------------------------------------------------


def _limit_ip(request: HttpRequest | Request) -> str:
    """Count the request against its IP's limit; the IP (the brute-force identity)."""
    ip = client_ip(request) or "unknown"
    rate_limit_hit(IP_SCOPE, ip, settings.LICENSE_SERVICE["THROTTLE_PRODUCT_IP"])
    return ip


def _limit_key(key: str) -> None:
    rate_limit_hit(KEY_SCOPE, key, settings.LICENSE_SERVICE["THROTTLE_PRODUCT_KEY"])


def _unknown_budget_spent(ip: str) -> Window | None:
    """The IP's unknown-key window if it has no room left (read, not counted)."""
    return rate_limit_spent(
        UNKNOWN_KEY_SCOPE, ip, settings.LICENSE_SERVICE["THROTTLE_UNKNOWN_KEY_IP"]
    )


class _BudgetSpent(Throttled):
    """The IP has spent its unknown-key budget (nothing about the key was read or written
    yet): only a key with an instance active on it may still be answered."""


def _unknown_key(ip: str, error: LicenseNotFound | None = None) -> LicenseNotFound:
    """Count an answer that names no license; Throttled once the IP is past its limit."""
    rate = settings.LICENSE_SERVICE["THROTTLE_UNKNOWN_KEY_IP"]
    near = near_cache()
    if near is not None:  # its count of this IP's unknown keys is behind now
        near.counts.distrust(rate_window(UNKNOWN_KEY_SCOPE, ip, rate))
    rate_limit_hit(UNKNOWN_KEY_SCOPE, ip, rate)
    return error or LicenseNotFound()


def _outcome_code(exc: Exception) -> str:
    if isinstance(exc, DomainError):
        return exc.code
    if isinstance(exc, (drf.ParseError, drf.ValidationError)):
        return "validation_error"
    return "other"


@contextmanager
def _recorded(record: Callable[[str], None]) -> Iterator[None]:
    """Record a failed call's error code in the product metrics."""
    try:
        yield
    except Exception as exc:
        record(_outcome_code(exc))
        raise


# --- activate / deactivate -----------------------------------------------------------------


class _BodyOnDeleteSchema(AutoSchema):
    """Documents the JSON body of ``DELETE /activate`` (drf-spectacular only documents
    bodies of POST, PUT and PATCH)."""

    def _get_request_body(self, direction: str = "request") -> Any:
        if self.method != "DELETE":
            return super()._get_request_body(direction)
        self.method = "POST"
        try:
            return super()._get_request_body(direction)
        finally:
            self.method = "DELETE"


class ProductApi(APIView):
    """Public: the license key in the body is the credential."""

    authentication_classes: list[Any] = []
    permission_classes: list[Any] = []


def _seat_fields(seats: services.SeatState) -> dict[str, Any]:
    return {
        "seats_used": seats.seats_used,
        "max_seats": seats.max_seats,
        "seats_remaining": seats.seats_remaining,
    }


def _seat_call(request: Request, service: Callable[..., _T]) -> _T:
    """Rate limits, input, the key's checksum, then the seat service. Answers that name no
    license (bad checksum, unknown key, no license for the product) count against the
    unknown-key limit."""
    ip = _limit_ip(request)
    data = _validated(request)
    key = canonical_license_key(data["license_key"])
    bind_license_key(key)
    if key is None:
        raise _unknown_key(ip)
    product_slug, instance = data["product_slug"], data["instance_identifier"]
    spent = _unknown_budget_spent(ip)
    if spent is not None and not instance_active_on(
        license_key=key, product_slug=product_slug, instance_identifier=instance
    ):
        raise Throttled(spent.retry_after)
    _limit_key(key)
    try:
        return service(
            license_key=key,
            product_slug=product_slug,
            instance_identifier=instance,
            actor=Actor.product(),
        )
    except LicenseNotFound as exc:
        raise _unknown_key(ip, exc) from None


def _deactivate(request: Request) -> Response:
    with _recorded(metrics.record_deactivation):
        seats = _seat_call(request, services.activation_release)
    metrics.record_deactivation("released")
    return Response(
        {"success": True, "message": "Seat released.", **_seat_fields(seats)}, status=200
    )


def _validated(request: Request) -> dict[str, Any]:
    serializer = ActivationInputSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class ActivateApi(ProductApi):
    schema = _BodyOnDeleteSchema()

    @extend_schema(
        tags=[PRODUCT_TAG],
        summary="Activate an instance (US3)",
        description="Takes a seat for this instance; an instance that is already active keeps "
        "its seat (no second seat, last_seen_at refreshed).",
        request=ActivationInputSerializer,
        responses={200: ActivateOutputSerializer, **error_responses(*ACTIVATE_ERRORS)},
    )
    def post(self, request: Request) -> Response:
        with _recorded(metrics.record_activation):
            result = _seat_call(request, services.activation_create)
        metrics.record_activation("activated" if result.created else "already_active")
        seats = result.seats
        return Response(
            {
                "success": True,
                "license_id": seats.license_id,
                "activation_id": result.activation_id,
                "status": seats.status,
                "expires_at": iso_datetime(seats.expires_at),
                **_seat_fields(seats),
            }
        )

    @extend_schema(
        tags=[PRODUCT_TAG],
        summary="Deactivate an instance (US5, same as POST /deactivate)",
        request=ActivationInputSerializer,
        responses={200: DeactivateOutputSerializer, **error_responses(*DEACTIVATE_ERRORS)},
    )
    def delete(self, request: Request) -> Response:
        return _deactivate(request)


class DeactivateApi(ProductApi):
    @extend_schema(
        tags=[PRODUCT_TAG],
        summary="Deactivate an instance (US5)",
        description="Frees the instance's seat, whatever the license's status.",
        request=ActivationInputSerializer,
        responses={200: DeactivateOutputSerializer, **error_responses(*DEACTIVATE_ERRORS)},
    )
    def post(self, request: Request) -> Response:
        return _deactivate(request)


# --- check ---------------------------------------------------------------------------------


class LeanApiView(ProductApi):
    """A DRF view for the OpenAPI schema that runs as a plain Django view: no DRF request
    wrapping, negotiation or response rendering on the hot path. Handlers take the Django
    request and return a JsonResponse; errors get the SPEC envelope here."""

    lean_methods: tuple[str, ...] = ()

    def setup(self, request: HttpRequest, *args: Any, **kwargs: Any) -> None:
        # Django's also sets ``self.head = self.get`` (a bound method of the view, on the
        # view: a reference cycle per request, garbage only the cyclic collector frees);
        # ``dispatch`` answers HEAD with ``get`` itself.
        self.request, self.args, self.kwargs = request, args, kwargs  # type: ignore[assignment]

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        method = request.method or ""
        handler = getattr(self, "get" if method == "HEAD" else method.lower(), None)
        if method not in self.lean_methods or handler is None:
            return error_response(
                code="method_not_allowed",
                message=f'Method "{method}" not allowed.',
                status=405,
                headers={"Allow": ", ".join(self.lean_methods)},
            )
        try:
            response: HttpResponse = handler(request, *args, **kwargs)
        except DomainError as exc:
            return domain_error_response(exc)
        except (OperationalError, InterfaceError):
            return database_unavailable_response()
        return response


def _check(
    request: HttpRequest,
    raw_key: str,
    product_slug: str | None,
    instance_identifier: str | None,
) -> HttpResponse:
    key = canonical_license_key(raw_key)
    bind_license_key(key)
    if key is None:
        raise _unknown_key(_limit_ip(request))
    ip = client_ip(request) or "unknown"
    knobs = settings.LICENSE_SERVICE
    now = time.time()
    count = (
        rate_window(IP_SCOPE, ip, knobs["THROTTLE_PRODUCT_IP"], now=now),
        rate_window(KEY_SCOPE, key, knobs["THROTTLE_PRODUCT_KEY"], now=now),
    )
    unknown = rate_window(UNKNOWN_KEY_SCOPE, ip, knobs["THROTTLE_UNKNOWN_KEY_IP"], now=now)
    near = near_cache()
    plain = product_slug is None and instance_identifier is None
    # No round trip: the answer is in this process and the limits admit it locally.
    kept, token = near.get(key, count, unknown) if near is not None else (None, None)
    data: CheckData | None
    if kept is not None:
        metrics.record_check_cache("near_hit")
        body = rendered_body(kept.rendered, timezone.now()) if plain else None
        if body is not None:  # the usual check: its answer as it was rendered
            return HttpResponse(body, content_type="application/json")
        data = kept.data()
    else:
        try:
            data, cache_result = _check_from_cache(key, count, unknown, near, token)
        except _BudgetSpent:
            if instance_identifier is None:
                raise
            return _check_over_budget(key, product_slug, instance_identifier, unknown)
        metrics.record_check_cache(cache_result)
    if data is None:
        raise _unknown_key(ip)
    if plain:
        return HttpResponse(check_body(data), content_type="application/json")
    try:
        answer = check_answer(
            data, product_slug=product_slug, instance_identifier=instance_identifier
        )
    except LicenseNotFound as exc:
        raise _unknown_key(ip, exc) from None
    if instance_identifier is not None:
        services.activation_heartbeat(
            license_key=key,
            license_ids=_active_license_ids(answer),
            instance_identifier=instance_identifier,
        )
    return HttpResponse(json_body(answer), content_type="application/json")


def _check_from_cache(
    key: str, count: Sequence[Window], unknown: Window, near: NearCache | None, token: int | None
) -> tuple[CheckData | None, CacheResult]:
    """One round trip: the IP's counter, this IP's unknown-key counter (a gate: read, and
    _BudgetSpent when it has no room, before anything about the key is counted, read or
    written), the key's counter (each with the events the near cache admitted locally),
    the cached answer; the database on a miss. What Redis answers goes to the near cache if
    nothing invalidated it since ``token``."""
    ip_window, key_window = count
    windows = (ip_window, unknown, key_window)
    if near is not None:
        ip_events, key_events = near.counts.take(count)
        amounts: Sequence[int] = (ip_events, 0, key_events)
    else:
        amounts = _ONE_EVENT_AND_A_GATE
    lookup = check_cache_lookup(key, count=windows, amounts=amounts)
    cached = None
    if lookup is not None:
        stop = lookup.throttled
        if stop is not None:
            if near is not None:
                near.counts.learned([stop], [stop.limit + 1])
                after = windows.index(stop) + 1  # not counted: those events wait again
                near.counts.untaken(windows[after:], amounts[after:])
            if stop.key == unknown.key:
                raise _BudgetSpent(stop.retry_after)
            raise Throttled(stop.retry_after)
        if near is not None:
            near.counts.learned(windows, lookup.counts)
        cached = lookup.cached
    data, cache_result = check_data(key, read=cached)
    if data is not None and cache_result in ("hit", "miss") and near is not None:
        near.put(key, data, token)
    return data, cache_result


# A check's events without the near cache: one in the IP's window, none in the gate of the
# unknown-key budget, one in the key's.
_ONE_EVENT_AND_A_GATE = (1, 0, 1)


def _check_over_budget(
    key: str, product_slug: str | None, instance_identifier: str, spent: Window
) -> HttpResponse:
    """A check from an IP past its unknown-key budget: answered only if the instance holds
    a seat of one of the key's licenses (of ``product_slug`` when given), then counted
    against the key; else refused as if the key did not exist, having written nothing
    (the facts are read without filling the cache)."""
    data, cache_result = check_data_unwritten(key)
    metrics.record_check_cache(cache_result)
    if data is None:
        raise Throttled(spent.retry_after)
    try:
        answer = check_answer(
            data, product_slug=product_slug, instance_identifier=instance_identifier
        )
    except LicenseNotFound:  # no license for that product
        raise Throttled(spent.retry_after) from None
    active = _active_license_ids(answer)
    if not active:
        raise Throttled(spent.retry_after)
    _limit_key(key)
    services.activation_heartbeat(
        license_key=key, license_ids=active, instance_identifier=instance_identifier
    )
    return HttpResponse(json_body(answer), content_type="application/json")


def _active_license_ids(answer: dict[str, Any]) -> list[int]:
    return [e["license_id"] for e in answer["entitlements"] if e["instance_active"]]


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
            _limit_ip(request)
            raise
        raw = raw_key if raw_key is not None else key
        assert raw is not None  # noqa: S101 (check_params requires it)
        response = _check(request, raw, product_slug, instance)
    except Exception as exc:
        metrics.record_check(_outcome_code(exc))
        raise
    metrics.record_check("found")
    return response


class CheckApi(LeanApiView):
    lean_methods = ("GET", "HEAD")

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
        if not request.META.get("QUERY_STRING"):  # the usual check: nothing to parse
            return _check_recorded(request, license_key, _no_params)
        query = request.GET
        return _check_recorded(request, license_key, lambda: check_params(query, with_key=False))


def _no_params() -> tuple[None, None, None]:
    return None, None, None


class CheckPostApi(LeanApiView):
    lean_methods = ("POST",)

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
        return _check_recorded(
            request, None, lambda: check_params(_json_body(request), with_key=True)
        )


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


# --- brand: release a seat -----------------------------------------------------------------


class BrandActivationApi(APIView):
    authentication_classes = BRAND_AUTHENTICATION
    permission_classes = [IsBrand]

    @extend_schema(
        tags=["brand"],
        summary="Release a seat on the customer's behalf",
        parameters=[OpenApiParameter("activation_id", int, OpenApiParameter.PATH)],
        responses={
            204: None,
            **error_responses("not_authenticated", "permission_denied", "not_found"),
        },
    )
    def delete(self, request: Request, activation_id: str) -> Response:
        principal = request.user
        assert isinstance(principal, BrandPrincipal)  # noqa: S101 (IsBrand guarantees it)
        services.activation_release_by_id(
            brand=principal.brand,
            activation_id=int(activation_id),
            actor=Actor.brand(principal.brand.slug),
        )
        return Response(status=204)

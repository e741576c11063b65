"""Product API (SPEC §6): activate and deactivate, and the brand-side seat release. The
check lives in ``activations.check``; the rate limits below are in ``activations.check.limits``.

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
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from activations import services
from activations.check.limits import (
    ACTIVATE_ERRORS,
    DEACTIVATE_ERRORS,
    PRODUCT_TAG,
    limit_ip,
    limit_key,
    unknown_budget_spent,
    unknown_key,
)
from activations.check.view import outcome_code
from activations.errors import LicenseNotFound
from activations.selectors import (
    instance_active_on,
    iso_datetime,
)
from activations.serializers import (
    ActivateInputSerializer,
    ActivateOutputSerializer,
    ActivationInputSerializer,
    DeactivateOutputSerializer,
    HeartbeatOutputSerializer,
)
from activations.tokens import activation_token
from audit.services import Actor
from brands.authentication import BRAND_AUTHENTICATION, BrandPrincipal
from brands.permissions import IsBrand
from license_service import metrics
from license_service.api.schema import error_responses
from license_service.api.spectacular_internals import BodyOnDeleteSchema
from license_service.errors import Throttled
from license_service.logging import bind_license_key
from licensing.keys import canonical_license_key

_T = TypeVar("_T")

# A replace names an instance that must hold a place on the license.
ACTIVATE_WITH_REPLACE_ERRORS = (*ACTIVATE_ERRORS, "activation_not_found")
HEARTBEAT_ERRORS = DEACTIVATE_ERRORS


@contextmanager
def _recorded(record: Callable[[str], None]) -> Iterator[None]:
    """Record a failed call's error code in the product metrics."""
    try:
        yield
    except Exception as exc:
        record(outcome_code(exc))
        raise


# --- activate / deactivate -----------------------------------------------------------------


class ProductApi(APIView):
    """Public: the license key in the body is the credential."""

    authentication_classes: list[Any] = []
    permission_classes: list[Any] = []


def _seat_fields(seats: services.SeatState) -> dict[str, Any]:
    return {
        "seats_used": seats.seats_used,
        "max_seats": seats.max_seats,
        "seats_remaining": seats.seats_remaining,
        "non_production_in_use": seats.non_production_in_use,
    }


def _seat_call(
    request: Request,
    service: Callable[..., _T],
    serializer_class: type[ActivationInputSerializer] = ActivationInputSerializer,
    options: Callable[[dict[str, Any]], dict[str, Any]] = lambda data: {},
) -> _T:
    """Rate limits, input, the key's checksum, then the seat service (with the keyword
    arguments ``options`` takes from the input besides key, product and instance). Answers
    that name no license (bad checksum, unknown key, no license for the product) count
    against the unknown-key limit."""
    ip = limit_ip(request)
    data = _validated(request, serializer_class)
    key = canonical_license_key(data["license_key"])
    bind_license_key(key)
    if key is None:
        raise unknown_key(ip)
    return seat_call(
        ip=ip,
        key=key,
        product_slug=data["product_slug"],
        instance_identifier=data["instance_identifier"],
        service=service,
        **options(data),
    )


def seat_call(
    *,
    ip: str,
    key: str,
    product_slug: str,
    instance_identifier: str,
    service: Callable[..., _T],
    **options: Any,
) -> _T:
    """A seat service called for a product client, after its IP was counted (``limit_ip``)
    and its key found well-formed: the unknown-key budget's gate (past it, only an instance
    holding a place on the license is answered), the key's limit, the service. Shared by
    both protocols (the product API, the EDD endpoint). Raises Throttled, and
    LicenseNotFound counted against the unknown-key budget."""
    spent = unknown_budget_spent(ip)
    if spent is not None and not instance_active_on(
        license_key=key, product_slug=product_slug, instance_identifier=instance_identifier
    ):
        raise Throttled(spent.retry_after)
    limit_key(key)
    try:
        return service(
            license_key=key,
            product_slug=product_slug,
            instance_identifier=instance_identifier,
            actor=Actor.product(),
            **options,
        )
    except LicenseNotFound as exc:
        raise unknown_key(ip, exc) from None


def _deactivate(request: Request) -> Response:
    with _recorded(metrics.record_deactivation):
        seats = _seat_call(request, services.activation_release)
    metrics.record_deactivation("released")
    return Response(
        {"success": True, "message": "Seat released.", **_seat_fields(seats)}, status=200
    )


def _validated(
    request: Request, serializer_class: type[ActivationInputSerializer]
) -> dict[str, Any]:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class ActivateApi(ProductApi):
    schema = BodyOnDeleteSchema()

    @extend_schema(
        tags=[PRODUCT_TAG],
        summary="Activate an instance (US3)",
        description="Takes a place for this instance: a seat when it is a production one "
        "(staging and local instances, told apart by the identifier, count against the "
        "product's non-production limit instead). On a full license, activations silent for "
        "longer than the product's heartbeat_seconds are reclaimed first, oldest first. An "
        "instance that is already active keeps its place (no second seat, last_seen_at "
        "refreshed). With replace_instance_identifier the place of that instance moves to "
        "this one atomically, even on a full license.",
        request=ActivateInputSerializer,
        responses={
            200: ActivateOutputSerializer,
            **error_responses(*ACTIVATE_WITH_REPLACE_ERRORS),
        },
    )
    def post(self, request: Request) -> Response:
        with _recorded(metrics.record_activation):
            result = _seat_call(
                request, services.activation_create, ActivateInputSerializer, _activate_options
            )
        metrics.record_activation("activated" if result.created else "already_active")
        seats = result.seats
        answer = {
            "success": True,
            "license_id": seats.license_id,
            "activation_id": result.activation_id,
            "status": seats.status,
            "expires_at": iso_datetime(seats.expires_at),
            "environment": result.environment,
            **_seat_fields(seats),
        }
        answer["license_token"] = activation_token(
            request, activation_id=result.activation_id, answer=answer
        )
        return Response(answer)

    @extend_schema(
        tags=[PRODUCT_TAG],
        summary="Deactivate an instance (US5, same as POST /deactivate)",
        request=ActivationInputSerializer,
        responses={200: DeactivateOutputSerializer, **error_responses(*DEACTIVATE_ERRORS)},
    )
    def delete(self, request: Request) -> Response:
        return _deactivate(request)


def _activate_options(data: dict[str, Any]) -> dict[str, Any]:
    return {
        "environment_claim": data.get("environment", ""),
        "replace_instance_identifier": data.get("replace_instance_identifier"),
    }


class HeartbeatApi(ProductApi):
    @extend_schema(
        tags=[PRODUCT_TAG],
        summary="Heartbeat of an active instance",
        description="Tells the service the instance is still there (refreshes last_seen_at; "
        "a check with instance_identifier does the same). When the product sets "
        "heartbeat_seconds, an instance silent for longer is dead and its place may be "
        "reclaimed for another: heartbeat at least every heartbeat_seconds / 2. A reclaimed "
        "instance takes a place back if one is free, else the answer is instance_active "
        'false with reason "reclaimed".',
        request=ActivationInputSerializer,
        responses={200: HeartbeatOutputSerializer, **error_responses(*HEARTBEAT_ERRORS)},
    )
    def post(self, request: Request) -> Response:
        with _recorded(metrics.record_heartbeat):
            result = _seat_call(request, services.activation_ping)
        metrics.record_heartbeat("active" if result.instance_active else "reclaimed")
        body: dict[str, Any] = {
            "success": True,
            "license_id": result.license_id,
            "activation_id": result.activation_id,
            "instance_active": result.instance_active,
        }
        if not result.instance_active:
            body["reason"] = "reclaimed"
        body.update(
            environment=result.environment,
            status=result.status,
            heartbeat_seconds=result.heartbeat_seconds,
            last_seen_at=iso_datetime(result.last_seen_at),
        )
        return Response(body)


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

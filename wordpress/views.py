"""``/edd/<brand_slug>/``: the EDD Software Licensing endpoint (SPEC §11), license actions.

A protocol adapter: the request read (``protocol.edd_input``), the action dispatched onto
the product API's own domain code, the outcome said in EDD's JSON. Seats, environments,
heartbeats, audit, the check cache and the rate limits are the product API's:
``activate_license`` and ``deactivate_license`` call the seat services through the same
gate as ``POST /api/v1/product/activate`` (``activations.apis.seat_call``);
``check_license`` is the product API's check read (``activations.check.read.check_read``),
answered from the check cache with no SQL on a hit.

Answers are HTTP 200 JSON, as EDD sends them, whatever the outcome (an unknown brand or key
included), except two a client must retry later: throttled (429) and the database down
(503), both with ``Retry-After`` and an EDD-shaped body (the updater waits an hour after a
non-200). ``get_version`` answers the update the key may have (``releases.updates``) from
the same read and the brand's catalogue; its every answer carries ``sections``.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from activations import services
from activations.apis import seat_call
from activations.check.facts import CheckData, LicenseFacts, check_data_unwritten
from activations.check.limits import limit_ip, unknown_key
from activations.check.read import check_read
from activations.check.view import outcome_code
from activations.environment import classify_environment
from activations.errors import (
    ActivationNotFound,
    LicenseCancelled,
    LicenseExpired,
    LicenseNotFound,
    LicenseSuspended,
    SeatLimitExceeded,
)
from activations.models import Environment
from activations.normalize import clean_instance_identifier
from activations.tokens import activation_token, check_answer_with_tokens, seat_answer
from license_service import metrics
from license_service.errors import DomainError, Throttled
from license_service.logging import bind_license_key
from licensing.keys import canonical_license_key
from licensing.models import License
from releases.catalog import Catalog, CatalogProduct, catalog_read
from releases.updates import UpdateOffer, changelog_section, package_url, update_offer, update_read
from wordpress.protocol import (
    DISABLED_STATUSES,
    EddInput,
    LicenseState,
    base_answer,
    edd_error_of,
    edd_input,
    expires_text,
    license_fields,
    license_for,
    php_serialize,
    state_of,
)

OK = 200
# Seconds a client is told to wait when the database cannot be reached.
UNAVAILABLE_RETRY_AFTER = 30


class _MissingUrl(DomainError):
    """The request names no site (EDD: ``missing_url``)."""

    code = "validation_error"


@contextmanager
def _recorded(record: Callable[[str], None]) -> Iterator[None]:
    """Record a failed call's error code in the product metrics, as the product API does
    (one set of outcome counters for both protocols)."""
    try:
        yield
    except Exception as exc:
        record(outcome_code(exc))
        raise


def _answer(
    body: dict[str, Any], status: int = 200, retry_after: int | None = None
) -> HttpResponse:
    # Plain JSON values only: json.dumps, not JsonResponse's DjangoJSONEncoder (slower);
    # encoded here, as bytes content spares HttpResponse parsing its charset back out.
    content = json.dumps(body).encode()
    response = HttpResponse(content, content_type="application/json", status=status)
    if retry_after is not None:
        response["Retry-After"] = str(retry_after)
    return response


def _refused(error: str, *, status: int = OK, retry_after: int | None = None) -> HttpResponse:
    """An answer naming no license: an unknown brand, key or action (``invalid``), or a
    request to retry later (``failed``, with a status other than 200)."""
    license_value = "invalid" if status == OK else "failed"
    body = {"success": False, "license": license_value, "error": error}
    return _answer(body, status, retry_after)


@csrf_exempt
def edd_endpoint(request: HttpRequest, brand_slug: str) -> HttpResponse:
    """GET, HEAD or POST /edd/<brand_slug>/ (trailing slash optional)."""
    if request.method not in {"GET", "HEAD", "POST"}:
        response = _refused("method_not_allowed", status=405)
        response["Allow"] = "GET, HEAD, POST"
        return response
    try:
        return _dispatched(request, brand_slug)
    except Throttled as exc:
        return _refused("throttled", status=429, retry_after=exc.wait)
    except DomainError as exc:  # none expected: the actions answer theirs; never a 500
        return _refused(exc.code)
    except (OperationalError, InterfaceError):
        return _refused("service_unavailable", status=503, retry_after=UNAVAILABLE_RETRY_AFTER)


def _dispatched(request: HttpRequest, brand_slug: str) -> HttpResponse:
    try:
        edd = edd_input(request)
    except RequestDataTooBig:
        return _refused("payload_too_large", status=413)
    action = ACTIONS.get(edd.action)
    if action is None:
        limit_ip(request)
        return _refused("invalid_action")
    return action(request, brand_slug, edd)


# --- activate / deactivate ------------------------------------------------------------------


def _instance(edd: EddInput) -> str:
    """The site as an instance identifier (SPEC §6). Raises _MissingUrl."""
    if not edd.url:
        raise _MissingUrl()
    try:
        return clean_instance_identifier(edd.url)
    except ValueError:
        raise _MissingUrl() from None


def _is_local(instance: str | None, catalog: Catalog | None) -> bool:
    if instance is None:
        return False
    patterns = tuple(catalog["patterns"]) if catalog is not None else ()
    return _non_production(instance, patterns)


@functools.lru_cache(maxsize=4096)
def _non_production(instance: str, patterns: tuple[str, ...]) -> bool:
    """Whether the site is no production site (EDD's ``is_local``): a pure function of the
    site and the brand's patterns, asked on every check of the same few sites, so each
    process remembers its last few thousand answers (classifying costs ~8 µs)."""
    return classify_environment(instance, patterns) != Environment.PRODUCTION


@dataclass(slots=True)
class _Target:
    """What an activation or deactivation learned before it was refused, if it was: the
    key's facts, the brand's catalogue, the license matched and its product, the site."""

    data: CheckData | None = None
    catalog: Catalog | None = None
    lic: LicenseFacts | None = None
    product: CatalogProduct | None = None
    instance: str | None = None


def _seat_target(
    request: HttpRequest, brand_slug: str, edd: EddInput, target: _Target
) -> tuple[str, str, str]:
    """The IP counted, the key checked and read (its facts: the cache's entry or the
    database's, nothing written), the product named matched, the site read: (ip, key,
    instance), and what was learned in ``target``. Raises LicenseNotFound (subclasses for
    the product), counted against the unknown-key budget, Throttled, and _MissingUrl."""
    ip = limit_ip(request)
    key = canonical_license_key(edd.license)
    bind_license_key(key)
    if key is None:
        raise unknown_key(ip)
    target.data, _ = check_data_unwritten(key)
    if target.data is None:
        raise unknown_key(ip)
    target.catalog = catalog_read(brand_slug)
    try:
        target.lic, target.product = license_for(
            target.data,
            target.catalog,
            brand_slug=brand_slug,
            item_id=edd.item_id,
            item_name=edd.item_name,
        )
    except LicenseNotFound as exc:
        raise unknown_key(ip, exc) from None
    target.instance = instance = _instance(edd)
    return ip, key, instance


def _activate(request: HttpRequest, brand_slug: str, edd: EddInput) -> HttpResponse:
    target = _Target()
    try:
        with _recorded(metrics.record_activation):
            ip, key, instance = _seat_target(request, brand_slug, edd, target)
            assert target.lic is not None  # noqa: S101 (set by _seat_target)
            result = seat_call(
                ip=ip,
                key=key,
                product_slug=target.lic["product_slug"],
                instance_identifier=instance,
                service=services.activation_create,
                environment_claim=edd.environment,
            )
    except LicenseNotFound as exc:
        return _failure(edd, "invalid", edd_error_of(exc), _Target())
    except _MissingUrl:
        return _failure(edd, "invalid", "missing_url", target)
    except (LicenseSuspended, LicenseCancelled):
        return _failure(edd, "invalid", "disabled", target)
    except LicenseExpired:
        return _failure(edd, "invalid", "expired", target)
    except SeatLimitExceeded:
        return _failure(edd, "invalid", "no_activations_left", target)
    metrics.record_activation("activated" if result.created else "already_active")
    seats = result.seats
    state = LicenseState(
        status=seats.status,
        expires_at=seats.expires_at,
        seats_used=seats.seats_used,
        max_seats=seats.max_seats,
    )
    assert target.data is not None  # noqa: S101 (set by _seat_target)
    body = base_answer(edd, success=True, license_value="valid", product=target.product)
    body.update(
        license_fields(
            state,
            customer_email=target.data["customer_email_masked"],
            is_local=result.environment != Environment.PRODUCTION,
        )
    )
    body["license_token"] = activation_token(  # SPEC §12; EDD clients ignore extra fields
        request, activation_id=result.activation_id, answer=seat_answer(seats)
    )
    return _answer(body)


def _deactivate(request: HttpRequest, brand_slug: str, edd: EddInput) -> HttpResponse:
    target = _Target()
    state: LicenseState | None = None
    try:
        with _recorded(metrics.record_deactivation):
            ip, key, instance = _seat_target(request, brand_slug, edd, target)
            assert target.lic is not None  # noqa: S101 (set by _seat_target)
            seats = seat_call(
                ip=ip,
                key=key,
                product_slug=target.lic["product_slug"],
                instance_identifier=instance,
                service=services.activation_release,
            )
    except LicenseNotFound as exc:
        return _failure(edd, "failed", edd_error_of(exc), _Target())
    except _MissingUrl:
        return _failure(edd, "failed", "missing_url", target)
    except ActivationNotFound:
        # The site holds no seat (deactivated already, or reclaimed): what the client asks
        # for is true, and EDD answers it so.
        pass
    else:
        metrics.record_deactivation("released")
        state = LicenseState(
            status=seats.status,
            expires_at=seats.expires_at,
            seats_used=seats.seats_used,
            max_seats=seats.max_seats,
        )
    return _answered(edd, "deactivated", target, state)


def _answered(
    edd: EddInput, license_value: str, target: _Target, state: LicenseState | None
) -> HttpResponse:
    """A successful answer on the license in ``target`` (its ``state`` after the change, or
    as its facts have it)."""
    lic, data = target.lic, target.data
    assert lic is not None  # noqa: S101 (a license was matched)
    assert data is not None  # noqa: S101 (the same)
    body = base_answer(edd, success=True, license_value=license_value, product=target.product)
    body.update(
        license_fields(
            state or state_of(lic, timezone.now()),
            customer_email=data["customer_email_masked"],
            is_local=_is_local(target.instance, target.catalog),
        )
    )
    return _answer(body)


def _failure(edd: EddInput, license_value: str, error: str, target: _Target) -> HttpResponse:
    """A refused activation or deactivation, with the license's fields when it has one."""
    body = base_answer(edd, success=False, license_value=license_value, product=target.product)
    body["error"] = error
    if target.lic is not None and target.data is not None:
        body.update(
            license_fields(
                state_of(target.lic, timezone.now()),
                customer_email=target.data["customer_email_masked"],
                is_local=_is_local(target.instance, target.catalog),
            )
        )
    return _answer(body)


# --- check ----------------------------------------------------------------------------------


def _check(request: HttpRequest, brand_slug: str, edd: EddInput) -> HttpResponse:
    """The product API's check of this key, this product and this site: its read, rate
    limits, heartbeat and cache, and the brand's catalogue (no SQL on a hit of both)."""
    chosen: list[tuple[LicenseFacts, CatalogProduct]] = []
    catalog = catalog_read(brand_slug)

    def product_of(data: CheckData) -> str:
        lic, product = license_for(
            data, catalog, brand_slug=brand_slug, item_id=edd.item_id, item_name=edd.item_name
        )
        chosen.append((lic, product))
        return lic["product_slug"]

    try:
        instance: str | None = _instance(edd)
    except _MissingUrl:
        instance = None  # no site: none holds a seat
    try:
        with _recorded(metrics.record_check):
            answer = check_read(request, edd.license, product_of, instance)
    except LicenseNotFound as exc:
        error = edd_error_of(exc)
        if error == "missing":
            return _refused("missing")
        # The key exists, its product is another: EDD's success with that word.
        return _answer(base_answer(edd, success=True, license_value=error, product=None))
    metrics.record_check("found")
    assert isinstance(answer, dict)  # noqa: S101 (a product was chosen: not the plain check)
    assert chosen  # noqa: S101 (the same)
    lic, product = chosen[-1]
    entitlement = answer["entitlements"][0]
    status = entitlement["status"]
    if status == License.EXPIRED:
        license_value = "expired"
    elif status in DISABLED_STATUSES:
        license_value = "disabled"
    elif not entitlement.get("instance_active", False):
        license_value = "site_inactive"
    else:
        license_value = "valid"
    state = LicenseState(
        status=status,
        expires_at=lic["expires_at"],
        seats_used=entitlement["seats_used"],
        max_seats=entitlement["max_seats"],
    )
    body = base_answer(edd, success=True, license_value=license_value, product=product)
    body.update(
        license_fields(
            state,
            customer_email=answer["customer_email_masked"],
            is_local=_is_local(instance, catalog),
        )
    )
    if instance is not None:  # SPEC §12, as the product API's check answers it
        body["license_token"] = check_answer_with_tokens(request, answer, instance)["license_token"]
    return _answer(body)


# --- get_version ----------------------------------------------------------------------------


def _version_answer(  # noqa: PLR0913 (the answer's parts, keyword-only)
    edd: EddInput,
    *,
    name: str,
    offer: UpdateOffer | None,
    package: str,
    message: str,
    error: str | None = None,
) -> dict[str, Any]:
    """get_version's answer, every field the updater reads present (``url`` too: PHP warns
    on a missing one) and ``sections`` always there: an answer without it counts as a
    failure the updater retries on every page load."""
    release = offer.release if offer is not None else None
    stable = offer.stable if offer is not None else None
    changelog = changelog_section(offer) if offer is not None else ""
    body: dict[str, Any] = {
        "new_version": release["version"] if release else "",
        "stable_version": stable["version"] if stable else "",
        "name": name,
        "slug": edd.slug,
        "url": "",
        "homepage": "",
        "last_updated": expires_text(_moment(release["published_at"])) if release else "",
        "requires": release["requires"] if release else "",
        "requires_php": release["requires_php"] if release else "",
        "tested": release["tested"] if release else "",
        "package": package,
        "download_link": package,
        "sections": php_serialize({"description": "", "changelog": changelog}),
        "banners": php_serialize({}),
        "icons": php_serialize({}),
        "msg": message,
    }
    if error is not None:
        body.update(success=False, license="invalid", error=error)
    return body


def _moment(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, tz=UTC)


def _get_version(request: HttpRequest, brand_slug: str, edd: EddInput) -> HttpResponse:
    """The newest release this key may have for the product named, from the check's read
    (rate limits, heartbeat, cache) and the brand's catalogue: no SQL on a hit."""
    catalog = catalog_read(brand_slug)
    name = edd.item_name or ""

    def choose(data: CheckData) -> tuple[LicenseFacts, CatalogProduct]:
        return license_for(
            data,
            catalog,
            brand_slug=brand_slug,
            item_id=edd.item_id,
            item_name=edd.item_name or edd.slug or None,
        )

    try:
        instance: str | None = _instance(edd)
    except _MissingUrl:
        instance = None
    try:
        with _recorded(metrics.record_check):
            read = update_read(request, edd.license, instance, choose)
    except LicenseNotFound as exc:
        error = edd_error_of(exc)
        message = (
            "This license key is not valid."
            if error == "missing"
            else "This license key is not for this product."
        )
        return _answer(
            _version_answer(edd, name=name, offer=None, package="", message=message, error=error)
        )
    metrics.record_check("found")
    entitlement = read.entitlement
    offer = update_offer(
        lic=read.lic,
        status=entitlement["status"],
        instance_active=bool(entitlement.get("instance_active")),
        product=read.product,
        beta=edd.beta,
        current_version=edd.version,
    )
    package = package_url(request, offer, license_id=read.lic["license_id"], site=instance)
    return _answer(
        _version_answer(
            edd, name=read.product["name"], offer=offer, package=package, message=offer.message
        )
    )


# The actions served.
ACTIONS: dict[str, Callable[[HttpRequest, str, EddInput], HttpResponse]] = {
    "activate_license": _activate,
    "deactivate_license": _deactivate,
    "check_license": _check,
    "get_version": _get_version,
}

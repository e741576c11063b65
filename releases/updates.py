"""What an update check offers (SPEC §11), for both protocols: EDD's ``get_version``
(``wordpress``) and ``GET /api/v1/product/updates`` (here).

Answered from the check cache only: the key's facts through the product check's own read
(``activations.check.read.check_read``: its rate limits, its heartbeat, no SQL on a hit)
and the brand's catalogue (``releases.catalog``: the products and their published
releases, no SQL on a hit). Which release is offered and whether its package may be
downloaded follows the license as the check answers it:

- valid: the newest release of the channels asked for (stable; stable and beta with
  ``beta``), its package when the site holds a live seat of the license;
- expired: the newest release published before it expired, its package as above; a newer
  one is not offered (the message says a renewal brings it);
- suspended, cancelled: the newest release is named, with no package.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import extend_schema
from rest_framework.views import APIView

from activations.check.facts import CheckData, LicenseFacts, json_body
from activations.check.limits import PRODUCT_TAG, limit_ip
from activations.check.read import check_read
from activations.check.view import outcome_code
from activations.errors import LicenseNotFound
from license_service import metrics
from license_service.api.errors import error_response
from license_service.api.exceptions import database_unavailable_response, domain_error_response
from license_service.api.schema import error_responses
from license_service.errors import DomainError, ValidationFailed
from licensing.models import License
from releases.catalog import Catalog, CatalogProduct, CatalogRelease, catalog_product, catalog_read
from releases.downloads import download_token
from releases.models import Release
from releases.serializers import UpdatesOutputSerializer, UpdatesQuerySerializer
from releases.versions import version_compare

# The changelogs shown for an update: those of the releases between the site's version and
# the one offered, at most this many.
MAX_CHANGELOGS = 20
CHANNELS: tuple[str, ...] = (Release.Channel.STABLE, Release.Channel.BETA)


@dataclass(frozen=True, slots=True)
class UpdateOffer:
    """What an update check answers about one product for one license and site."""

    release: CatalogRelease | None  # the release offered (None: none published)
    stable: CatalogRelease | None  # the newest stable release the license may have
    package_allowed: bool  # the site may download the offered release's package
    message: str  # why there is no package ("" when there is one)
    changelogs: list[CatalogRelease]  # whose changelogs the answer shows, newest first


def update_offer(  # noqa: PLR0913 (what the check read said, keyword-only)
    *,
    lic: LicenseFacts,
    status: str,
    instance_active: bool,
    product: CatalogProduct,
    beta: bool,
    current_version: str | None,
) -> UpdateOffer:
    """The offer for license ``lic`` (its effective ``status`` as the check answered it),
    for a site holding a live seat of it (``instance_active``) or not."""
    channels = CHANNELS if beta else (Release.Channel.STABLE,)
    pool = product["releases"]
    candidates = [r for r in pool if r["channel"] in channels]
    message = ""
    if status == License.EXPIRED and lic["expires_at"] is not None:
        expired_at = lic["expires_at"].timestamp()
        allowed = [r for r in candidates if r["published_at"] < expired_at]
        if len(allowed) < len(candidates):
            message = (
                f"This license expired on {_date(expired_at)}: renew it to get the releases "
                "published since."
            )
        pool = [r for r in pool if r["published_at"] < expired_at]
        candidates = allowed
        offered = allowed[0] if allowed else None
        may_download = bool(allowed)
    elif status == License.Status.VALID:
        offered = candidates[0] if candidates else None
        may_download = True
    else:  # suspended, cancelled
        offered = candidates[0] if candidates else None
        may_download = False
        message = f"This license is {status}: no downloads."
    if may_download and not instance_active:
        may_download = False
        message = message or "This site holds no active seat of this license: activate it."
    if offered is None:
        message = message or "No release of this product is published yet."
    stable = next((r for r in pool if r["channel"] == Release.Channel.STABLE), None)
    return UpdateOffer(
        release=offered,
        stable=stable,
        package_allowed=may_download and offered is not None,
        message=message,
        changelogs=_changelogs(candidates, offered, current_version),
    )


def _date(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, tz=UTC).strftime("%Y-%m-%d")


def _changelogs(
    candidates: list[CatalogRelease], offered: CatalogRelease | None, current: str | None
) -> list[CatalogRelease]:
    """The releases between the site's version (excluded) and the offered one (included),
    newest first; the offered one alone when the site's version is unknown or newer."""
    if offered is None:
        return []
    shown = [
        r
        for r in candidates
        if version_compare(r["version"], offered["version"]) <= 0
        and (current is None or version_compare(r["version"], current) > 0)
    ]
    return shown[:MAX_CHANGELOGS] or [offered]


def changelog_section(offer: UpdateOffer) -> str:
    """The changelog shown for an offer: each release's notes under its version."""
    return "".join(
        f"<h4>{release['version']}</h4>\n{release['changelog_html']}"
        for release in offer.changelogs
    )


def package_url(
    request: HttpRequest, offer: UpdateOffer, *, license_id: int, site: str | None
) -> str:
    """The offered release's signed package URL for this license and site ("" when the
    offer has no package)."""
    if not offer.package_allowed or offer.release is None or site is None:
        return ""
    token = download_token(license_id=license_id, release_id=offer.release["id"], site=site)
    return request.build_absolute_uri(f"/api/v1/product/downloads/{token}")


@dataclass(frozen=True, slots=True)
class UpdateRead:
    """An update check read: the key's license of the product, its product in the
    catalogue, and the check's answer of it (status, ``instance_active``)."""

    lic: LicenseFacts
    product: CatalogProduct
    entitlement: dict[str, Any]


Chooser = Callable[[CheckData], tuple[LicenseFacts, CatalogProduct]]


def update_read(
    request: HttpRequest, raw_key: str, instance: str | None, choose: Chooser
) -> UpdateRead:
    """The check of this key for the product ``choose(data)`` picks (the check's read: its
    rate limits, heartbeat and cache), as an ``UpdateRead``. ``choose`` returns (license,
    product) or raises LicenseNotFound (or a subclass): answered as an unknown key."""
    chosen: list[tuple[LicenseFacts, CatalogProduct]] = []

    def product_of(data: CheckData) -> str:
        lic, product = choose(data)
        chosen.append((lic, product))
        return lic["product_slug"]

    answer = check_read(request, raw_key, product_of, instance)
    assert isinstance(answer, dict)  # noqa: S101 (a product was chosen: not the plain check)
    lic, product = chosen[-1]
    return UpdateRead(lic=lic, product=product, entitlement=answer["entitlements"][0])


# --- GET /api/v1/product/updates ------------------------------------------------------------


def _query(request: HttpRequest) -> tuple[str, str, str | None, str | None, bool]:
    """(key, product_slug, instance, version, beta) of the query. Raises ValidationFailed."""
    serializer = UpdatesQuerySerializer(data=dict(request.GET.items()))
    if not serializer.is_valid():
        raise ValidationFailed("Invalid input.", details=serializer.errors)
    data: dict[str, Any] = serializer.validated_data
    return (
        data["license_key"],
        data["product_slug"],
        data.get("instance_identifier"),
        data.get("version"),
        data["channel"] == Release.Channel.BETA,
    )


def _choose(catalog: Catalog | None, product_slug: str) -> Chooser:
    def choose(data: CheckData) -> tuple[LicenseFacts, CatalogProduct]:
        for lic in data["licenses"]:
            if lic["product_slug"] == product_slug:
                product = catalog_product(catalog, product_slug)
                if product is not None:
                    return lic, product
        raise LicenseNotFound("This key has no license for that product.")

    return choose


def updates_answer(request: HttpRequest) -> dict[str, Any]:
    """The native update check's answer. Raises the domain errors the view answers."""
    try:
        raw_key, product_slug, instance, version, beta = _query(request)
    except DomainError:
        limit_ip(request)
        raise
    chooser: dict[str, Any] = {}

    def choose(data: CheckData) -> tuple[LicenseFacts, CatalogProduct]:
        # The catalogue of the key's brand, read once the key's facts name it.
        chooser["catalog"] = catalog_read(data["brand"])
        return _choose(chooser["catalog"], product_slug)(data)

    read = update_read(request, raw_key, instance, choose)
    entitlement = read.entitlement
    offer = update_offer(
        lic=read.lic,
        status=entitlement["status"],
        instance_active=bool(entitlement.get("instance_active")),
        product=read.product,
        beta=beta,
        current_version=version,
    )
    release = offer.release
    url = package_url(request, offer, license_id=read.lic["license_id"], site=instance)
    return {
        "success": True,
        "product_slug": product_slug,
        "license_status": entitlement["status"],
        "instance_active": entitlement.get("instance_active"),
        "update_available": release is not None
        and (version is None or version_compare(release["version"], version) > 0),
        "version": release["version"] if release else None,
        "channel": release["channel"] if release else None,
        "published_at": _iso(release["published_at"]) if release else None,
        "requires": release["requires"] if release else "",
        "requires_php": release["requires_php"] if release else "",
        "tested": release["tested"] if release else "",
        "sha256": release["sha256"] if release else None,
        "size": release["size"] if release else None,
        "changelog_html": changelog_section(offer),
        "package_url": url or None,
        "message": offer.message or None,
    }


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, tz=UTC).isoformat().replace("+00:00", "Z")


@csrf_exempt
def updates_get(request: HttpRequest) -> HttpResponse:
    """GET (and HEAD) /api/v1/product/updates."""
    if request.method not in {"GET", "HEAD"}:
        return error_response(
            code="method_not_allowed",
            message=f'Method "{request.method}" not allowed.',
            status=405,
            headers={"Allow": "GET, HEAD"},
        )
    try:
        try:
            answer = updates_answer(request)
        except Exception as exc:
            metrics.record_check(outcome_code(exc))
            raise
    except DomainError as exc:
        return domain_error_response(exc)
    except (OperationalError, InterfaceError):
        return database_unavailable_response()
    metrics.record_check("found")
    return HttpResponse(json_body(answer), content_type="application/json")


UPDATES_ERRORS = ("validation_error", "license_not_found", "throttled")


class UpdatesApi(APIView):
    authentication_classes = ()
    permission_classes = ()

    @extend_schema(
        tags=[PRODUCT_TAG],
        operation_id="product_updates",
        summary="The newest release a license may have, and its package URL",
        description="Answered from the check cache (no SQL on a hit), rate-limited like the "
        "check; with `instance_identifier` it counts as that site's heartbeat, and the "
        "package URL (signed, expiring, bound to the license, release and site) is given "
        "when the site holds an active seat.",
        parameters=[UpdatesQuerySerializer],
        responses={200: UpdatesOutputSerializer, **error_responses(*UPDATES_ERRORS)},
    )
    def get(self, request: HttpRequest) -> HttpResponse:
        return updates_get(request)

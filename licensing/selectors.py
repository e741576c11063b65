"""Reads of the brand API. Every selector takes the caller's brand first: another brand's
object is simply not found."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Prefetch, Q, QuerySet
from django.utils import timezone

from brands.models import Brand
from license_service.errors import NotFound
from licensing.keys import canonical_license_key
from licensing.models import License, LicenseKey, normalize_email
from licensing.seats import PRODUCTION, live_q


def seats_remaining(*, seats_used: int, max_seats: int | None) -> int | None:
    return None if max_seats is None else max(0, max_seats - seats_used)


def _with_seats(queryset: QuerySet[License]) -> QuerySet[License]:
    """With ``seats_used`` (live production activations) and ``non_production_in_use``
    (live staging and local ones), as ``licensing.seats`` defines them (SPEC §10)."""
    # seat_q and non_production_q are live_q and the environment: live_q read once (its
    # one query of the heartbeat values in use).
    live = live_q(timezone.now(), prefix="activations__")
    production = Q(activations__environment=PRODUCTION)
    return queryset.select_related("license_key__brand", "product").annotate(
        seats_used=Count("activations", filter=production & live, distinct=True),
        non_production_in_use=Count("activations", filter=~production & live, distinct=True),
    )


def _held_activations() -> QuerySet[Any]:
    """A license's activations that hold a place (not reclaimed), reached through the
    reverse relation: licensing does not import ``activations`` (imports point down)."""
    model = License.activations.field.model
    return model._default_manager.filter(reclaimed_at__isnull=True)


def _license_detail(queryset: QuerySet[License]) -> License:
    license_ = (
        _with_seats(queryset)
        .prefetch_related(Prefetch("activations", queryset=_held_activations()))
        .first()
    )
    if license_ is None:
        raise NotFound("License not found.")
    return license_


def license_get_for_brand(brand: Brand, license_id: int) -> License:
    """Raises NotFound for an unknown license or one of another brand. Its activations
    (``activations``) are those that hold a place: a reclaimed one is no longer listed."""
    return _license_detail(License.objects.filter(pk=license_id, license_key__brand=brand))


def license_get_for_staff(license_id: int) -> License:
    """``license_get_for_brand`` across brands, for the staff API (staff see every brand).
    Raises NotFound for an unknown license."""
    return _license_detail(License.objects.filter(pk=license_id))


def license_exists_for_brand(brand: Brand, license_id: int) -> bool:
    return License.objects.filter(pk=license_id, license_key__brand=brand).exists()


def licenses_list_for_brand(
    brand: Brand,
    *,
    customer_email: str | None = None,
    product_slug: str | None = None,
    status: str | None = None,
) -> QuerySet[License]:
    return _filtered(
        License.objects.filter(license_key__brand=brand),
        customer_email=customer_email,
        product_slug=product_slug,
        status=status,
    )


def licenses_search_for_staff(
    *,
    email: str | None = None,
    key: str | None = None,
    brand_slug: str | None = None,
    product_slug: str | None = None,
    status: str | None = None,
) -> QuerySet[License]:
    """Licenses of every brand, for the staff API's search. ``key`` is typed loosely, as
    the console's search takes it (lower case, no dashes, O for 0): a value that cannot be
    a key (wrong shape, failed checksum) matches nothing."""
    queryset = License.objects.all()
    if key:
        canonical = canonical_license_key(key)
        if canonical is None:
            return _with_seats(License.objects.none())
        queryset = queryset.filter(license_key__key=canonical)
    if brand_slug:
        queryset = queryset.filter(license_key__brand__slug=brand_slug)
    return _filtered(queryset, customer_email=email, product_slug=product_slug, status=status)


def _filtered(
    queryset: QuerySet[License],
    *,
    customer_email: str | None,
    product_slug: str | None,
    status: str | None,
) -> QuerySet[License]:
    if customer_email:
        queryset = queryset.filter(license_key__customer_email=normalize_email(customer_email))
    if product_slug:
        queryset = queryset.filter(product__slug=product_slug)
    if status:
        now = timezone.now()
        not_expired = Q(expires_at__isnull=True) | Q(expires_at__gt=now)
        if status == License.Status.VALID:
            queryset = queryset.filter(not_expired, status=License.Status.VALID)
        elif status == License.EXPIRED:
            queryset = queryset.filter(status=License.Status.VALID, expires_at__lte=now)
        else:
            queryset = queryset.filter(status=status)
    return _with_seats(queryset)


def licenses_by_email(brand: Brand, email: str, *, ecosystem: bool) -> list[LicenseKey]:
    """US6: the customer's keys with their licenses, in two queries whatever their number.
    Without ``ecosystem`` only this brand's keys are visible."""
    keys = LicenseKey.objects.filter(customer_email=normalize_email(email))
    if not ecosystem:
        keys = keys.filter(brand=brand)
    licenses = _with_seats(License.objects.order_by("product__slug", "id"))
    return list(
        keys.select_related("brand")
        .prefetch_related(Prefetch("licenses", queryset=licenses))
        .order_by("brand__slug", "id")
    )


def license_with_seats(license_id: int) -> License:
    """A license with its seat counts, as the brand API shows it (no brand check: the
    services' own events use it, for a license they just changed)."""
    return _with_seats(License.objects.filter(pk=license_id)).get()


def license_key_get_for_staff(license_key_id: int) -> LicenseKey:
    """A license key of any brand, for the staff API. Raises NotFound."""
    key = LicenseKey.objects.select_related("brand").filter(pk=license_key_id).first()
    if key is None:
        raise NotFound("License key not found.")
    return key

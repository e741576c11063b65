"""Reads on brands, products and brand API keys (staff API and admin)."""

from __future__ import annotations

from django.db.models import Q, QuerySet
from django.utils import timezone

from brands.models import Brand, BrandApiKey, BrandSigningKey, Product


def brand_list() -> QuerySet[Brand]:
    return Brand.objects.all()


def brand_get(*, slug: str) -> Brand | None:
    return Brand.objects.filter(slug=slug).first()


def api_key_list(*, brand: Brand) -> QuerySet[BrandApiKey]:
    """Revoked keys included: staff need to see what was revoked and when."""
    return BrandApiKey.objects.filter(brand=brand)


def api_key_get(*, brand: Brand, api_key_id: int) -> BrandApiKey | None:
    """None for a key of another brand, exactly as for an unknown id."""
    return BrandApiKey.objects.filter(brand=brand, pk=api_key_id).first()


def product_list(*, brand_slug: str | None = None) -> QuerySet[Product]:
    """All products, or those of one brand (none for an unknown slug: a filter, not a lookup)."""
    products = Product.objects.select_related("brand")
    if brand_slug is not None:
        products = products.filter(brand__slug=brand_slug)
    return products


def product_get(*, product_id: int) -> Product | None:
    return Product.objects.select_related("brand").filter(pk=product_id).first()


def signing_keys_published(*, brand: Brand | None = None) -> QuerySet[BrandSigningKey]:
    """The public keys a verifier needs (SPEC §12): each brand's current key, and every
    retired key until the last token it signed has expired. A brand whose first token was
    never signed has none. Every brand's when ``brand`` is None."""
    keys = BrandSigningKey.objects.filter(
        Q(retired_at__isnull=True) | Q(signed_until__gt=timezone.now())
    ).order_by("brand_id", "-created_at", "-id")
    return keys if brand is None else keys.filter(brand=brand)


def signing_key_list(*, brand: Brand) -> QuerySet[BrandSigningKey]:
    """Every signing key of the brand, retired ones included, newest first."""
    return BrandSigningKey.objects.filter(brand=brand).order_by("-created_at", "-id")

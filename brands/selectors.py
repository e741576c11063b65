"""Reads on brands, products and brand API keys (staff API and admin)."""

from __future__ import annotations

from django.db.models import QuerySet

from brands.models import Brand, BrandApiKey, Product


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

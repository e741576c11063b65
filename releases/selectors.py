"""Reads of releases. Brand-facing selectors take the caller's brand first: another brand's
product or release is simply not found."""

from __future__ import annotations

from datetime import datetime

from brands.models import Brand, Product
from license_service.errors import NotFound
from releases.models import Release
from releases.versions import version_sort_key


def product_get_for_brand(brand: Brand, slug: str) -> Product:
    product = Product.objects.select_related("brand").filter(brand=brand, slug=slug).first()
    if product is None:
        raise NotFound("Product not found.")
    return product


def releases_list_for_product(product: Product) -> list[Release]:
    """Every release of the product, newest version first (PHP's ``version_compare``; the
    database cannot order by it, and a product has tens of releases, not millions)."""
    releases = list(Release.objects.filter(product=product).select_related("product__brand"))
    releases.sort(key=lambda release: version_sort_key(release.version), reverse=True)
    return releases


def release_get_for_product(product: Product, release_id: int) -> Release:
    release = (
        Release.objects.select_related("product__brand")
        .filter(product=product, pk=release_id)
        .first()
    )
    if release is None:
        raise NotFound("Release not found.")
    return release


def release_latest_for(
    product: Product, *, include_beta: bool, published_before: datetime | None = None
) -> Release | None:
    """The newest published, not yanked release of ``product`` by ``version_compare``: the
    stable channel, and the beta channel too with ``include_beta``; only releases published
    before ``published_before`` when given (what an expired license may still have)."""
    queryset = Release.objects.filter(
        product=product, published_at__isnull=False, yanked_at__isnull=True
    )
    if not include_beta:
        queryset = queryset.filter(channel=Release.Channel.STABLE)
    if published_before is not None:
        queryset = queryset.filter(published_at__lt=published_before)
    candidates = list(queryset)
    if not candidates:
        return None
    return max(candidates, key=lambda release: version_sort_key(release.version))

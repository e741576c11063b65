"""A brand's catalogue: what the EDD endpoint (``wordpress``) and update checks read about a
brand besides a license key's facts, cached as one small entry per brand.

A key's check facts (``activations.check.facts``) hold only what the product API's answer
needs. What the EDD protocol adds (the products' names and EDD item ids it matches
``item_name``/``item_id`` against, the brand's non-production patterns behind ``is_local``)
is the same for every key of a brand, so it is kept once per brand, here, under the check
cache's own key ``catalog:<brand_slug>`` and through its own machinery
(``activations.check.keys``): an entry tagged with the generation of that name and the
epoch as they were before the database was read (``check_entry``), served only while both
are current (``check_entry_fresh``), forgotten on commit by a new generation
(``check_cache_forget_on_commit``). That invalidation writes the name's invalidation key, so
every process's near cache (which tracks the invalidation prefix) drops its copy too: a
renamed product, a changed ``edd_item_id`` or new patterns are seen at once.

A read is the near cache (no I/O), else one round trip to the cache (no rate limit
counted: the request's own check counts them), else the database (a few small queries,
then stored). The product API's check never reads it.

Invalidated on commit of: a brand created (its slug may have been remembered as unknown),
its patterns changed, a product created, renamed or given another ``edd_item_id``
(``brands.limits.brand_catalog_changed``).
"""

from __future__ import annotations

import time
from typing import Any, NotRequired, TypedDict

from django.conf import settings

from activations.check.facts import check_cache_lookup
from activations.check.keys import (
    check_cache_forget_on_commit,
    check_cache_store,
    check_entry,
    check_entry_fresh,
)
from activations.check.near import near_cache
from brands.models import Brand, Product

CATALOG_PREFIX = "catalog:"


class CatalogProduct(TypedDict):
    """One product of the brand, as the EDD protocol names it."""

    slug: str
    name: str
    edd_item_id: int | None


class Catalog(TypedDict):
    """A brand's catalogue."""

    brand: str  # the brand's slug
    patterns: list[str]  # the brand's own non-production host patterns
    products: list[CatalogProduct]
    # The wall-clock time the entry stops being served (as the check facts have it: a near
    # cache keeps it no longer than Redis does).
    cached_until: NotRequired[float]


def catalog_key(brand_slug: str) -> str:
    """The catalogue's name in the check cache (a license key never holds a ``:``)."""
    return CATALOG_PREFIX + brand_slug


def catalog_read(brand_slug: str) -> Catalog | None:
    """The brand's catalogue (None: no such brand): from the near cache, else from one
    round trip to the cache, else from the database (then stored). Never raises for the
    cache: when it is down, the database answers."""
    key = catalog_key(brand_slug)
    near = near_cache()
    token = None
    if near is not None:
        kept, token = near.read(key)
        if kept is not None:
            catalog: Catalog = kept.data()
            return catalog
    lookup = check_cache_lookup(key)
    if lookup is None or lookup.cached is None:  # the cache is down
        return catalog_load(brand_slug)
    read = lookup.cached
    entry = read.entry
    if check_entry_fresh(entry, generation=read.generation, epoch=read.epoch) and (
        entry[2] is None or time.time() < entry[2].get("cached_until", 0)
    ):
        found: Catalog | None = entry[2]
    else:
        found = catalog_load(brand_slug)
        knobs = settings.LICENSE_SERVICE
        ttl = knobs["CHECK_NEGATIVE_CACHE_TTL"] if found is None else knobs["CHECK_CACHE_TTL"]
        if found is not None:
            found["cached_until"] = time.time() + ttl
        tagged = check_entry(found, generation=read.generation, epoch=read.epoch)
        check_cache_store(key, tagged, timeout=ttl)
    if found is not None and near is not None:
        near.put(key, found, token)
    return found


def catalog_load(brand_slug: str) -> Catalog | None:
    """The brand's catalogue from the database (None: no such brand)."""
    brand = Brand.objects.filter(slug=brand_slug).values_list("pk", "non_production_patterns")
    found = brand.first()
    if found is None:
        return None
    brand_id, patterns = found
    products: list[CatalogProduct] = [
        {"slug": slug, "name": name, "edd_item_id": edd_item_id}
        for slug, name, edd_item_id in Product.objects.filter(brand_id=brand_id)
        .order_by("pk")
        .values_list("slug", "name", "edd_item_id")
    ]
    return {
        "brand": brand_slug,
        "patterns": [pattern for pattern in patterns or () if isinstance(pattern, str)],
        "products": products,
    }


def catalog_product(catalog: Catalog | None, slug: str) -> CatalogProduct | None:
    """The catalogue's product of this slug."""
    if catalog is not None:
        for product in catalog["products"]:
            if product["slug"] == slug:
                return product
    return None


# --- invalidation ---------------------------------------------------------------------------


def catalog_forget_on_commit(brand_slug: str) -> None:
    """The brand's cached catalogue is dead once the current transaction commits (in every
    process: the near caches hear the invalidation)."""
    check_cache_forget_on_commit(catalog_key(brand_slug))


def brand_catalog_changed_received(sender: Any, *, brand_slug: str, **kwargs: Any) -> None:
    """The receiver of ``brands.limits.brand_catalog_changed``."""
    catalog_forget_on_commit(brand_slug)

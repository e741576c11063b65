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

Besides the products, it holds each product's published, not yanked releases (what an
update check renders: version, channel, dates, compatibility, the changelog as HTML), so
``get_version`` and ``GET /api/v1/product/updates`` need no SQL on a hit either.

Invalidated on commit of: a brand created (its slug may have been remembered as unknown),
its patterns changed, a product created, renamed or given another ``edd_item_id``
(``brands.limits.brand_catalog_changed``); a release published, yanked or its notes edited
(``releases.signals.release_changed``).
"""

from __future__ import annotations

import time
from typing import Any, NotRequired, TypedDict

from django.conf import settings
from markdown_it import MarkdownIt

from activations.check.facts import check_cache_lookup
from activations.check.keys import (
    check_cache_forget,
    check_cache_forget_on_commit,
    check_cache_store,
    check_entry,
    check_entry_fresh,
)
from activations.check.near import Kept, near_cache
from brands.models import Brand, Product
from releases.models import Release
from releases.versions import version_sort_key

CATALOG_PREFIX = "catalog:"


class CatalogRelease(TypedDict):
    """One published, not yanked release, with what an update check renders of it."""

    id: int
    version: str
    channel: str  # stable | beta
    published_at: float  # wall clock
    updated_at: float
    requires: str
    requires_php: str
    tested: str
    sha256: str
    size: int
    changelog_html: str  # the Markdown changelog rendered, raw HTML escaped


class CatalogProduct(TypedDict):
    """One product of the brand, as the EDD protocol names it, with its releases."""

    slug: str
    name: str
    edd_item_id: int | None
    releases: list[CatalogRelease]  # newest version first (PHP's version_compare)


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
            return _unpickled(key, kept)
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


# The catalogue each name's near-cache entry last unpickled to, with that entry's bytes:
# served again while the near cache keeps the same entry (the same bytes object), so a
# brand's releases and changelogs are not unpickled on every EDD request. A new entry (a
# fill after an invalidation) has new bytes. Callers never change a catalogue they read.
_UNPICKLED: dict[str, tuple[bytes, Catalog]] = {}


def _unpickled(key: str, kept: Kept) -> Catalog:
    remembered = _UNPICKLED.get(key)
    if remembered is not None and remembered[0] is kept.facts:
        return remembered[1]
    catalog: Catalog = kept.data()
    _UNPICKLED[key] = (kept.facts, catalog)
    return catalog


def catalog_load(brand_slug: str) -> Catalog | None:
    """The brand's catalogue from the database (None: no such brand)."""
    brand = Brand.objects.filter(slug=brand_slug).values_list("pk", "non_production_patterns")
    found = brand.first()
    if found is None:
        return None
    brand_id, patterns = found
    by_id: dict[int, CatalogProduct] = {
        pk: {"slug": slug, "name": name, "edd_item_id": edd_item_id, "releases": []}
        for pk, slug, name, edd_item_id in Product.objects.filter(brand_id=brand_id)
        .order_by("pk")
        .values_list("pk", "slug", "name", "edd_item_id")
    }
    published = Release.objects.filter(
        product__brand_id=brand_id, published_at__isnull=False, yanked_at__isnull=True
    ).order_by()
    for release in published:
        assert release.published_at is not None  # noqa: S101 (filtered above)
        by_id[release.product_id]["releases"].append(
            {
                "id": release.pk,
                "version": release.version,
                "channel": release.channel,
                "published_at": release.published_at.timestamp(),
                "updated_at": release.updated_at.timestamp(),
                "requires": release.requires,
                "requires_php": release.requires_php,
                "tested": release.tested,
                "sha256": release.sha256,
                "size": release.size,
                "changelog_html": changelog_html(release.changelog),
            }
        )
    products = list(by_id.values())
    for product in products:
        product["releases"].sort(key=lambda r: version_sort_key(r["version"]), reverse=True)
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


def release_changed_received(sender: Any, *, brand_slug: str, **kwargs: Any) -> None:
    """The receiver of ``releases.signals.release_changed`` (sent after the commit)."""
    check_cache_forget(catalog_key(brand_slug))


# --- changelogs -----------------------------------------------------------------------------

# CommonMark with raw HTML off: a changelog's ``<script>`` is shown as text, and links with
# a javascript:, vbscript:, file: or data: URL are not made (markdown-it's validateLink).
_MARKDOWN = MarkdownIt("commonmark", {"html": False})


def changelog_html(markdown: str) -> str:
    """A release's Markdown changelog as HTML safe to show in WordPress's details modal."""
    return _MARKDOWN.render(markdown) if markdown.strip() else ""

"""A brand's catalogue (releases.catalog): the EDD endpoint's products and patterns, cached
once per brand beside the lean check facts, and forgotten on commit of every change to them.
The Redis tests also run with the near cache on (REDIS_URL set)."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.cache import caches
from django.db import connection
from django.test.utils import CaptureQueriesContext

from activations.check import near as nearcache
from activations.check.facts import check_data_load
from activations.check.keys import CHECK_PREFIX, check_cache_forget_on_commit
from audit.services import Actor
from brands.services import brand_create, brand_update, product_create, product_update
from license_service.redis import transport
from releases import catalog as catalog_module
from releases.catalog import catalog_key, catalog_read
from tests.factories import LicenseFactory
from tests.wordpress.conftest import ITEM_ID, SITE, answer, committed, edd

pytestmark = pytest.mark.django_db

requires_redis = pytest.mark.skipif(
    transport.redis_cache(caches["default"]) is None, reason="needs Redis (REDIS_URL)"
)

STAFF = Actor.staff("ops")


def check(client: Any, key: str, **params: Any) -> dict[str, Any]:
    return answer(edd(client, "check_license", license=key, url=SITE, **params))


def test_the_check_facts_hold_only_what_the_product_api_answers(key, license_):
    facts = check_data_load(key)
    assert facts is not None
    assert set(facts) == {"license_key", "brand", "customer_email_masked", "licenses"}
    assert "product_name" not in facts["licenses"][0]
    assert "edd_item_id" not in facts["licenses"][0]
    assert CHECK_PREFIX == "check:v5:"


def test_the_catalogue_holds_the_brands_products_and_patterns(brand, edd_product):
    with committed():
        brand_update(brand=brand, actor=STAFF, non_production_patterns=["*.dev.example.com"])
    found = catalog_read(brand.slug)
    assert found is not None
    assert found["brand"] == brand.slug
    assert found["patterns"] == ["*.dev.example.com"]
    assert found["products"] == [
        {"slug": edd_product.slug, "name": edd_product.name, "edd_item_id": ITEM_ID, "releases": []}
    ]


def test_an_unknown_brand_has_no_catalogue(db):
    assert catalog_read("no-such-brand") is None


def test_a_cached_catalogue_costs_no_sql(brand, edd_product):
    catalog_read(brand.slug)
    with CaptureQueriesContext(connection) as queries:
        assert catalog_read(brand.slug) is not None
    assert len(queries) == 0


def test_cached_edd_check_costs_no_sql_for_key_and_catalogue(client, key, license_):
    edd(client, "activate_license", license=key, item_id=ITEM_ID, url=SITE)
    check(client, key, item_id=ITEM_ID)  # fills both entries
    with CaptureQueriesContext(connection) as queries:
        body = check(client, key, item_name="RankMath Pro")
    assert body["license"] == "valid"
    assert [query["sql"] for query in queries.captured_queries] == []


def test_the_product_api_check_never_reads_the_catalogue(client, key, license_, monkeypatch):
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the product API's check read the catalogue")

    monkeypatch.setattr(catalog_module, "catalog_load", refuse)
    monkeypatch.setattr(catalog_module, "check_cache_lookup", refuse)
    for _ in range(2):
        response = client.get(f"/api/v1/product/check/{key}", {"instance_identifier": SITE})
        assert response.status_code == 200


def test_a_renamed_product_is_seen_at_once(client, key, license_, edd_product):
    assert check(client, key, item_name="RankMath Pro")["license"] == "site_inactive"
    with committed():
        product_update(product=edd_product, actor=STAFF, name="RankMath Ultra")
    renamed = check(client, key, item_name="RankMath Ultra")
    assert (renamed["license"], renamed["item_name"]) == ("site_inactive", "RankMath Ultra")
    # The old name still matches by the slug (rankmath-pro), as EDD's slug match does.
    assert check(client, key, item_name="RankMath Pro")["item_name"] == "RankMath Pro"


def test_a_changed_edd_item_id_is_seen_at_once(client, key, license_, edd_product):
    assert check(client, key, item_id=ITEM_ID)["license"] == "site_inactive"
    with committed():
        product_update(product=edd_product, actor=STAFF, edd_item_id=4242)
    moved = check(client, key, item_id=4242)
    assert (moved["license"], moved["item_id"]) == ("site_inactive", 4242)
    assert check(client, key, item_id=ITEM_ID)["license"] == "invalid_item_id"


def test_changed_patterns_are_seen_at_once(client, key, license_, brand):
    staging = "https://shop.dev.example.com"
    edd(client, "activate_license", license=key, item_id=ITEM_ID, url=staging)
    before = answer(edd(client, "check_license", license=key, item_id=ITEM_ID, url=staging))
    assert before["is_local"] is False
    with committed():
        brand_update(brand=brand, actor=STAFF, non_production_patterns=["*.dev.example.com"])
    body = answer(edd(client, "check_license", license=key, item_id=ITEM_ID, url=staging))
    assert body["is_local"] is True


def test_a_new_product_is_seen_at_once(client, key, license_, brand):
    check(client, key, item_id=ITEM_ID)  # the catalogue is cached
    with committed():
        product = product_create(
            brand=brand,
            name="Content AI",
            slug="content-ai",
            default_max_seats=1,
            actor=STAFF,
            edd_item_id=77,
        )
    LicenseFactory.create(product=product, license_key=license_.license_key)
    with committed():  # provisioning invalidates the key (here: made by a factory)
        check_cache_forget_on_commit(key)
    body = check(client, key, item_id=77)
    assert (body["license"], body["item_name"]) == ("site_inactive", "Content AI")


def test_a_new_brand_is_not_remembered_as_unknown(db):
    assert catalog_read("newcomer") is None  # remembered as unknown for a while
    with committed():
        brand_create(name="Newcomer", slug="newcomer", key_prefix="NEWC", actor=STAFF)
    found = catalog_read("newcomer")
    assert found is not None
    assert found["products"] == []


def test_another_brands_change_leaves_this_catalogue_cached(brand, other_product, edd_product):
    catalog_read(brand.slug)
    with committed():
        product_update(product=other_product, actor=STAFF, name="Elsewhere")
    with CaptureQueriesContext(connection) as queries:
        catalog_read(brand.slug)
    assert len(queries) == 0


# --- with Redis and the near cache ----------------------------------------------------------


@requires_redis
def test_the_near_cache_keeps_the_catalogue_and_drops_it_on_a_change(
    brand, edd_product, round_trips
):
    near = nearcache.near_cache()
    assert near is not None
    # From the database into Redis (the first contact writes the epoch, which empties the
    # near cache), then from Redis into the near cache.
    catalog_read(brand.slug)
    catalog_read(brand.slug)
    round_trips.clear()
    with CaptureQueriesContext(connection) as queries:
        assert catalog_read(brand.slug) is not None
    assert (len(queries), round_trips) == (0, [])
    assert near.read(catalog_key(brand.slug))[0] is not None
    with committed():
        product_update(product=edd_product, actor=STAFF, name="RankMath Ultra")
    assert near.read(catalog_key(brand.slug))[0] is None  # the channel dropped it
    found = catalog_read(brand.slug)
    assert found is not None
    assert found["products"][0]["name"] == "RankMath Ultra"


@requires_redis
def test_a_near_cached_edd_check_costs_no_sql_and_sees_a_rename(client, key, license_, edd_product):
    edd(client, "activate_license", license=key, item_id=ITEM_ID, url=SITE)
    for _ in range(3):
        check(client, key, item_id=ITEM_ID)
    with CaptureQueriesContext(connection) as queries:
        assert check(client, key, item_id=ITEM_ID)["license"] == "valid"
    assert len(queries) == 0
    with committed():
        product_update(product=edd_product, actor=STAFF, name="RankMath Ultra", edd_item_id=43)
    renamed = check(client, key, item_id=43)
    assert (renamed["license"], renamed["item_name"]) == ("valid", "RankMath Ultra")
    assert check(client, key, item_name="RankMath Ultra")["license"] == "valid"

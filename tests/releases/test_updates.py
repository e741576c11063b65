"""GET /api/v1/product/updates: the update check in this API's JSON (SPEC §11)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import TestCase
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from audit.services import Actor
from releases.catalog import catalog_forget_on_commit
from releases.services import release_publish, release_yank
from tests.factories import ActivationFactory, LicenseFactory, LicenseKeyFactory, ProductFactory
from tests.releases.conftest import create_release

pytestmark = pytest.mark.django_db

SITE = "example.com"
DAY = timedelta(days=1)
STAFF = Actor.staff("ops")


def committed() -> Any:
    return TestCase.captureOnCommitCallbacks(execute=True)


@pytest.fixture
def license_(product):
    key = LicenseKeyFactory.create(brand=product.brand)
    lic = LicenseFactory.create(product=product, license_key=key)
    ActivationFactory.create(license=lic, instance_identifier=SITE)
    return lic


@pytest.fixture
def key(license_):
    return license_.license_key.key


@pytest.fixture
def releases(product):
    now = timezone.now()
    made = {
        "1.0.0": create_release(product, "1.0.0", published_at=now - 2 * DAY),
        "1.1.0": create_release(product, "1.1.0", published_at=now - DAY),
        "2.0.0-beta.1": create_release(
            product, "2.0.0-beta.1", channel="beta", published_at=now - DAY / 2
        ),
    }
    with committed():
        catalog_forget_on_commit(product.brand.slug)
    return made


def updates(client: Any, **params: Any) -> Any:
    return client.get("/api/v1/product/updates", params)


def test_an_active_site_gets_the_newest_release_and_a_package_url(
    api_client, key, product, releases
):
    response = updates(
        api_client,
        license_key=key,
        product_slug=product.slug,
        version="1.0.0",
        instance_identifier=SITE,
    )
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True
    assert (body["version"], body["channel"], body["update_available"]) == (
        "1.1.0",
        "stable",
        True,
    )
    assert (body["license_status"], body["instance_active"]) == ("valid", True)
    assert body["sha256"] == releases["1.1.0"].sha256
    assert body["message"] is None
    assert "<h4>1.1.0</h4>" in body["changelog_html"]
    download = api_client.get(body["package_url"])
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == releases["1.1.0"].package.open("rb").read()


def test_an_up_to_date_site_has_no_update(api_client, key, product, releases):
    body = updates(api_client, license_key=key, product_slug=product.slug, version="1.1.0").json()
    assert (body["version"], body["update_available"]) == ("1.1.0", False)


def test_without_a_site_there_is_no_package(api_client, key, product, releases):
    body = updates(api_client, license_key=key, product_slug=product.slug).json()
    assert (body["package_url"], body["instance_active"]) == (None, None)
    assert "seat" in body["message"]


def test_the_beta_channel(api_client, key, product, releases):
    body = updates(api_client, license_key=key, product_slug=product.slug, channel="beta").json()
    assert (body["version"], body["channel"]) == ("2.0.0-beta.1", "beta")


def test_a_publish_and_a_yank_are_seen_at_once(api_client, key, product, releases):
    assert updates(api_client, license_key=key, product_slug=product.slug).json()["version"] == (
        "1.1.0"
    )
    fresh = create_release(product, "1.2.0")
    with committed():
        release_publish(release=fresh, actor=STAFF)
    assert updates(api_client, license_key=key, product_slug=product.slug).json()["version"] == (
        "1.2.0"
    )
    with committed():
        release_yank(release=fresh, actor=STAFF)
    assert updates(api_client, license_key=key, product_slug=product.slug).json()["version"] == (
        "1.1.0"
    )


def test_a_cached_update_check_costs_no_sql(api_client, key, product, releases):
    params = {"license_key": key, "product_slug": product.slug, "instance_identifier": SITE}
    updates(api_client, **params)
    updates(api_client, **params)
    with CaptureQueriesContext(connection) as queries:
        assert updates(api_client, **params).status_code == 200
    assert len(queries) == 0


def test_unknown_key_is_license_not_found(api_client, product):
    response = updates(api_client, license_key="RNKM-NOPE", product_slug=product.slug)
    assert (response.status_code, response.json()["error"]) == (404, "license_not_found")


def test_a_product_the_key_lacks_is_license_not_found(api_client, key, brand, releases):
    other = ProductFactory.create(brand=brand, slug="content-ai")
    response = updates(api_client, license_key=key, product_slug=other.slug)
    assert (response.status_code, response.json()["error"]) == (404, "license_not_found")


def test_another_brands_product_is_license_not_found(api_client, key, other_product, releases):
    response = updates(api_client, license_key=key, product_slug=other_product.slug)
    assert (response.status_code, response.json()["error"]) == (404, "license_not_found")


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"product_slug": "x"}, "license_key"),
        ({"license_key": "RNKM-X"}, "product_slug"),
        ({"license_key": "RNKM-X", "product_slug": "x", "channel": "nightly"}, "channel"),
        ({"license_key": "RNKM-X", "product_slug": "x", "version": "v" * 65}, "version"),
    ],
)
def test_bad_input_is_a_validation_error_naming_the_field(api_client, db, params, field):
    response = updates(api_client, **params)
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "validation_error"
    assert field in body["details"]


def test_update_checks_are_rate_limited_like_the_check(
    api_client, key, product, releases, settings
):
    settings.LICENSE_SERVICE = {**settings.LICENSE_SERVICE, "THROTTLE_PRODUCT_KEY": "2/m"}
    codes = [
        updates(api_client, license_key=key, product_slug=product.slug).status_code
        for _ in range(4)
    ]
    assert codes[:2] == [200, 200]
    assert codes[-1] == 429


def test_post_is_method_not_allowed(api_client, db):
    response = api_client.post("/api/v1/product/updates", {})
    assert (response.status_code, response.json()["error"]) == (405, "method_not_allowed")

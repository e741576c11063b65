"""US6: a customer's licenses by e-mail, with and without ecosystem:read."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from brands.models import SCOPE_ECOSYSTEM_READ
from licensing.keys import key_masked
from tests.conftest import make_brand_client
from tests.factories import ActivationFactory, LicenseFactory, LicenseKeyFactory, ProductFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/brand/licenses/by-email/"


@pytest.fixture
def customer_everywhere(product, other_product):
    mine = LicenseKeyFactory.create(brand=product.brand, customer_email="jane@example.com")
    lic = LicenseFactory.create(product=product, license_key=mine)
    ActivationFactory.create(license=lic)
    theirs = LicenseKeyFactory.create(brand=other_product.brand, customer_email="jane@example.com")
    LicenseFactory.create(product=other_product, license_key=theirs)
    return mine, theirs


def test_without_ecosystem_scope_only_own_brand(brand_client, customer_everywhere):
    mine, _ = customer_everywhere
    body = brand_client.get(URL + "Jane@Example.com").json()
    assert body["customer_email"] == "jane@example.com"
    assert [k["license_key"] for k in body["licenses"]] == [mine.key]
    product = body["licenses"][0]["products"][0]
    assert product["product_slug"] == "rankmath-pro"
    assert product["seats_used"] == 1
    assert product["max_seats"] == 3
    assert product["status"] == "valid"
    assert set(product) == {
        "product_slug",
        "license_id",
        "status",
        "expires_at",
        "seats_used",
        "max_seats",
    }


def test_with_ecosystem_scope_every_brand(ecosystem_client, customer_everywhere):
    body = ecosystem_client.get(URL + "jane@example.com").json()
    assert sorted(k["brand"] for k in body["licenses"]) == ["rankmath", "wp-rocket"]


def test_unknown_email_is_an_empty_list(brand_client, db):
    response = brand_client.get(URL + "nobody@example.com")
    assert response.status_code == 200
    assert response.json() == {"customer_email": "nobody@example.com", "licenses": []}


def test_invalid_email_is_a_validation_error(brand_client, db):
    response = brand_client.get(URL + "not-an-email")
    assert response.status_code == 400
    assert response.json()["details"] == {"email": ["Enter a valid email address."]}


def test_query_count_does_not_grow_with_licenses(ecosystem_client, product, other_product):
    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert ecosystem_client.get(URL + "many@example.com").status_code == 200
        return len(ctx.captured_queries)

    key = LicenseKeyFactory.create(brand=product.brand, customer_email="many@example.com")
    LicenseFactory.create(product=product, license_key=key)
    queries()  # the first call also records the API key's last use
    few = queries()
    for _ in range(5):
        LicenseFactory.create(product=ProductFactory.create(brand=product.brand), license_key=key)
    other = LicenseKeyFactory.create(brand=other_product.brand, customer_email="many@example.com")
    LicenseFactory.create(product=other_product, license_key=other)
    assert queries() == few == 4  # API key, keys, heartbeat values in use, licenses


def test_by_email_matches_any_spelling_of_the_domain(brand_client, product):
    key = LicenseKeyFactory.create(brand=product.brand, customer_email="ann@xn--exmple-cua.com")
    LicenseFactory.create(product=product, license_key=key)
    for spelling in ["Ann@Exämple.com", "ANN@XN--EXMPLE-CUA.COM", "ann@ｅｘäｍｐｌｅ.com"]:
        body = brand_client.get(URL + spelling).json()
        assert body["customer_email"] == "ann@xn--exmple-cua.com"
        assert [k["license_key"] for k in body["licenses"]] == [key.key]


def test_list_filter_matches_any_spelling_of_the_email_domain(brand_client, product):
    key = LicenseKeyFactory.create(brand=product.brand, customer_email="ann@xn--exmple-cua.com")
    lic = LicenseFactory.create(product=product, license_key=key)
    response = brand_client.get("/api/v1/brand/licenses", {"customer_email": "Ann@EXÄMPLE.com"})
    assert [item["license_id"] for item in response.json()["results"]] == [lic.id]


def test_with_ecosystem_scope_other_brands_keys_are_masked(ecosystem_client, customer_everywhere):
    mine, theirs = customer_everywhere
    body = ecosystem_client.get(URL + "jane@example.com").json()
    keys = {k["brand"]: k["license_key"] for k in body["licenses"]}
    assert keys["rankmath"] == mine.key
    prefix, *_, last = theirs.key.split("-")
    assert keys["wp-rocket"] == f"{prefix}-…-{last}"
    assert theirs.key not in str(body)
    for group in theirs.key.split("-")[1:-1]:
        assert group not in keys["wp-rocket"]


def test_the_other_brand_sees_the_first_brands_key_masked(other_brand, customer_everywhere, db):
    mine, theirs = customer_everywhere
    client = make_brand_client(other_brand, scopes=["licenses:read", SCOPE_ECOSYSTEM_READ])
    keys = {
        k["brand"]: k["license_key"]
        for k in client.get(URL + "jane@example.com").json()["licenses"]
    }
    assert keys["wp-rocket"] == theirs.key
    assert keys["rankmath"] == key_masked(mine.key)
    assert keys["rankmath"].startswith("RNKM-…-")


def test_a_masked_key_opens_nothing_on_the_product_api(
    ecosystem_client, customer_everywhere, api_client
):
    body = ecosystem_client.get(URL + "jane@example.com").json()
    masked = next(k["license_key"] for k in body["licenses"] if k["brand"] == "wp-rocket")
    response = api_client.post("/api/v1/product/check", {"license_key": masked}, format="json")
    assert response.status_code == 404


def test_key_masked_keeps_the_prefix_and_last_group_only():
    assert key_masked("RNKM-ABCDE-FGHJK-MNPQR-STVWX-YZ012-E8RJP") == "RNKM-…-E8RJP"

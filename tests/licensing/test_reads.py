"""Brand API reads: one license, the list with filters, its events."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.utils import timezone
from rest_framework.pagination import Cursor

from license_service.api.pagination import MAX_CURSOR_LENGTH, DefaultCursorPagination
from licensing.models import License
from tests.factories import ActivationFactory, LicenseFactory, LicenseKeyFactory
from tests.licensing.conftest import LICENSES_URL, patch, provision

pytestmark = pytest.mark.django_db


def test_get_license_shows_seats_and_activations(brand_client, license_):
    ActivationFactory.create(license=license_, instance_identifier="example.com")
    body = brand_client.get(f"{LICENSES_URL}/{license_.pk}").json()
    assert body["license_id"] == license_.pk
    assert body["license_key"] == license_.license_key.key
    assert body["product"] == "rankmath-pro"
    assert body["seats_used"] == 1
    assert body["max_seats"] == 3
    assert body["seats_remaining"] == 2
    assert [a["instance_identifier"] for a in body["activations"]] == ["example.com"]


def test_get_reports_the_effective_status(brand_client, license_):
    License.objects.filter(pk=license_.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert brand_client.get(f"{LICENSES_URL}/{license_.pk}").json()["status"] == "expired"


def test_trailing_slash_is_accepted(brand_client, license_):
    assert brand_client.get(f"{LICENSES_URL}/{license_.pk}/").status_code == 200


def test_unknown_license_is_404(brand_client, db):
    response = brand_client.get(f"{LICENSES_URL}/999999")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_huge_license_id_is_404_not_500(brand_client, db):
    assert brand_client.get(f"{LICENSES_URL}/99999999999999999999999").status_code == 404


def test_list_is_cursor_paginated(brand_client, product):
    key = LicenseKeyFactory.create(brand=product.brand)
    for _ in range(3):
        LicenseFactory.create(product__brand=product.brand, license_key=key)
    first = brand_client.get(f"{LICENSES_URL}?page_size=2").json()
    assert set(first) == {"next", "previous", "results"}
    assert len(first["results"]) == 2
    second = brand_client.get(first["next"]).json()
    assert len(second["results"]) == 1
    ids = [r["license_id"] for r in first["results"] + second["results"]]
    assert len(set(ids)) == 3


def test_list_filters_by_email_product_and_status(brand_client, product, second_product):
    provision(brand_client, customer_email="a@example.com")
    provision(brand_client, customer_email="b@example.com")
    suspended = provision(brand_client, customer_email="b@example.com", product_slug="content-ai")
    patch(brand_client, suspended.json()["license_id"], action="suspend")

    def emails(query: str) -> list[tuple[str, str]]:
        results = brand_client.get(f"{LICENSES_URL}?{query}").json()["results"]
        return sorted((r["customer_email"], r["product"]) for r in results)

    assert emails("customer_email=B@example.com") == [
        ("b@example.com", "content-ai"),
        ("b@example.com", "rankmath-pro"),
    ]
    assert emails("product=content-ai") == [("b@example.com", "content-ai")]
    assert emails("status=suspended") == [("b@example.com", "content-ai")]
    assert len(emails("status=valid")) == 2


def test_list_filters_expired_by_the_clock(brand_client, license_):
    assert brand_client.get(f"{LICENSES_URL}?status=expired").json()["results"] == []
    License.objects.filter(pk=license_.pk).update(expires_at=timezone.now() - timedelta(days=1))
    results = brand_client.get(f"{LICENSES_URL}?status=expired").json()["results"]
    assert [r["license_id"] for r in results] == [license_.pk]
    assert brand_client.get(f"{LICENSES_URL}?status=valid").json()["results"] == []


def test_list_refuses_an_unknown_status(brand_client, db):
    response = brand_client.get(f"{LICENSES_URL}?status=bogus")
    assert response.status_code == 400
    assert "status" in response.json()["details"]


def test_list_refuses_a_forged_cursor(brand_client, db):
    response = brand_client.get(f"{LICENSES_URL}?cursor=bm9wZQ")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


@pytest.mark.parametrize(
    "query", ["page_size=0", "page_size=201", "page_size=x", "page_size=1&page_size=2"]
)
def test_list_refuses_a_bad_page_size(brand_client, db, query):
    response = brand_client.get(f"{LICENSES_URL}?{query}")
    assert response.status_code == 400
    assert "page_size" in response.json()["details"]


def test_events_are_newest_first(brand_client, license_):
    patch(brand_client, license_.pk, action="suspend")
    patch(brand_client, license_.pk, action="resume")
    body = brand_client.get(f"{LICENSES_URL}/{license_.pk}/events").json()
    assert [e["action"] for e in body["results"]] == ["license.resumed", "license.suspended"]
    assert body["results"][0]["actor"] == "rankmath"


def test_blank_list_filters_mean_no_filter(brand_client, product, second_product):
    provision(brand_client, customer_email="a@example.com")
    provision(brand_client, customer_email="b@example.com", product_slug="content-ai")
    for query in ("customer_email=&product=&status=", "status=", "customer_email=%20&product="):
        response = brand_client.get(f"{LICENSES_URL}?{query}")
        assert response.status_code == 200, (query, response.json())
        assert len(response.json()["results"]) == 2, query


def test_a_blank_filter_beside_a_set_one_still_filters(brand_client, product, second_product):
    provision(brand_client, customer_email="a@example.com")
    provision(brand_client, customer_email="b@example.com", product_slug="content-ai")
    results = brand_client.get(f"{LICENSES_URL}?customer_email=&product=content-ai&status=").json()
    assert [r["customer_email"] for r in results["results"]] == ["b@example.com"]


def test_a_cursor_longer_than_documented_is_a_validation_error(brand_client, db):
    response = brand_client.get(f"{LICENSES_URL}?cursor={'a' * (MAX_CURSOR_LENGTH + 1)}")
    assert response.status_code == 400
    assert response.json()["error"] == "validation_error"
    assert "cursor" in response.json()["details"]


def test_the_longest_cursor_the_paginator_makes_is_within_the_documented_bound():
    paginator = DefaultCursorPagination()
    paginator.base_url = "http://testserver/"
    # An id (the list) or a timestamp (the events) as position; the stubs say int only.
    positions: list[Any] = [str(-(2**63)), "2026-12-04 19:14:00.123456+00:00"]
    for position in positions:
        url = paginator.encode_cursor(
            Cursor(offset=paginator.offset_cutoff, reverse=True, position=position)
        )
        (cursor,) = parse_qs(urlsplit(url).query)["cursor"]
        assert len(cursor) <= MAX_CURSOR_LENGTH

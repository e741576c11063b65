"""GET /api/v1/brand/events: the brand's events in order, each exactly once (SPEC §13)."""

from __future__ import annotations

import pytest
from django.db import transaction

from audit.services import Actor
from events.models import Event
from events.services import event_record
from licensing import services
from tests.conftest import make_brand_client
from tests.factories import LicenseFactory

pytestmark = pytest.mark.django_db
URL = "/api/v1/brand/events"


def record(brand, type_="license.expired", n=1):
    with transaction.atomic():
        return [event_record(type_=type_, brand_id=brand.pk, data={"n": i}) for i in range(n)]


def test_feed_lists_the_brands_events_in_order(brand_client, brand, product):
    license_ = LicenseFactory.create(product=product)
    services.license_suspend(license_=license_, actor=Actor.brand(brand.slug))
    services.license_resume(license_=license_, actor=Actor.brand(brand.slug))
    body = brand_client.get(URL).json()
    assert [e["type"] for e in body["results"]] == ["license.suspended", "license.resumed"]
    first = body["results"][0]
    assert set(first) == {"id", "type", "created_at", "brand", "data"}
    assert first["brand"] == "rankmath"
    assert first["data"]["license"]["license_id"] == license_.pk
    assert body["next"] is None


def test_polling_after_the_last_event_returns_only_newer_ones(brand_client, brand):
    first = record(brand, n=2)
    body = brand_client.get(URL, {"after": first[-1].pk}).json()
    assert body["results"] == []
    later = record(brand, type_="license.renewed")
    body = brand_client.get(URL, {"after": first[-1].pk}).json()
    assert [e["id"] for e in body["results"]] == [later[0].pk]


def test_pages_follow_next_until_the_end(brand_client, brand):
    events = record(brand, n=5)
    seen: list[int] = []
    url: str | None = URL
    params: dict[str, int] | None = {"limit": 2}
    while url:
        body = brand_client.get(url, params).json()
        seen += [e["id"] for e in body["results"]]
        url, params = body["next"], None
    assert seen == [e.pk for e in events]


def test_type_filter_keeps_only_that_type(brand_client, brand):
    record(brand, type_="license.expired")
    wanted = record(brand, type_="activation.created")
    body = brand_client.get(URL, {"type": "activation.created"}).json()
    assert [e["id"] for e in body["results"]] == [wanted[0].pk]


def test_other_brands_events_never_appear(brand_client, brand, other_brand):
    record(other_brand, n=3)
    mine = record(brand)
    body = brand_client.get(URL).json()
    assert [e["id"] for e in body["results"]] == [mine[0].pk]


@pytest.mark.parametrize("whose", ["other_brand", "nobody"])
def test_a_cursor_that_is_no_event_of_this_brand_is_404(brand_client, other_brand, whose):
    after = record(other_brand)[0].pk if whose == "other_brand" else 999_999
    response = brand_client.get(URL, {"after": after})
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
    assert "after" in response.json()["details"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"after": "abc"}, "after"),
        ({"after": "0"}, "after"),
        ({"after": str(2**63)}, "after"),
        ({"type": "license.exploded"}, "type"),
        ({"limit": "0"}, "limit"),
        ({"limit": "501"}, "limit"),
    ],
)
def test_bad_query_is_a_validation_error_naming_the_field(brand_client, brand, params, field):
    response = brand_client.get(URL, params)
    assert response.status_code == 400
    assert response.json()["error"] == "validation_error"
    assert field in response.json()["details"]


def test_feed_needs_a_brand_credential(api_client):
    response = api_client.get(URL)
    assert response.status_code == 401
    assert response.json()["error"] == "not_authenticated"


def test_feed_needs_the_read_scope(brand):
    client = make_brand_client(brand, scopes=["licenses:write"])
    response = client.get(URL)
    assert response.status_code == 403
    assert response.json()["error"] == "permission_denied"


def test_events_get_positions_in_id_order_once_committed(brand_client, brand):
    events = record(brand, n=3)
    assert not Event.objects.filter(position__isnull=False).exists()
    brand_client.get(URL)
    positions = [int(Event.objects.get(pk=e.pk).position or 0) for e in events]
    assert positions == sorted(positions)
    assert len(set(positions)) == 3

"""SPEC §10 in the admin: activations show their environment and state (active, dead,
reclaimed) and filter by both; products edit their heartbeat and non-production limit,
brands their non-production patterns (one per line), with the staff API's validation."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from activations.models import Activation
from audit.models import AuditEvent
from brands.models import Brand, Product
from tests.factories import ActivationFactory, LicenseFactory, ProductFactory

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:activations_activation_changelist"


@pytest.fixture
def admin_client(staff_user: Any) -> Client:
    client = Client()
    client.force_login(staff_user)
    return client


@pytest.fixture
def seats(brand: Brand) -> dict[str, Activation]:
    """On a product with a 10-minute heartbeat: a live production site, a dead one, a
    reclaimed one, a live staging copy; on a product without heartbeat, a site not seen
    for a year (never dead there)."""
    now = timezone.now()
    beating = ProductFactory.create(brand=brand, slug="beating", heartbeat_seconds=600)
    forever = ProductFactory.create(brand=brand, slug="forever", heartbeat_seconds=None)
    lic = LicenseFactory.create(product=beating, license_key__brand=brand)
    other = LicenseFactory.create(product=forever, license_key__brand=brand)

    def seat(license_: Any, identifier: str, seen: timedelta, **fields: Any) -> Activation:
        activation: Activation = ActivationFactory.create(
            license=license_, instance_identifier=identifier, last_seen_at=now - seen, **fields
        )
        return activation

    return {
        "active": seat(lic, "shop.example.com", timedelta(minutes=1)),
        "dead": seat(lic, "gone.example.com", timedelta(hours=1)),
        "reclaimed": seat(
            lic, "old.example.com", timedelta(days=3), reclaimed_at=now - timedelta(days=1)
        ),
        "staging": seat(
            lic,
            "staging.shop.example.com",
            timedelta(minutes=2),
            environment="staging",
            environment_claim="development",
        ),
        "never_dead": seat(other, "quiet.example.com", timedelta(days=365)),
    }


def listed(client: Client, query: str = "") -> set[int]:
    response = client.get(reverse(CHANGELIST) + query)
    assert response.status_code == 200
    return {row.pk for row in response.context["cl"].result_list}


def test_activation_list_shows_environment_state_claim_and_reclaim(admin_client, seats):
    response = admin_client.get(reverse(CHANGELIST))
    assert response.status_code == 200
    html = response.content.decode()
    for column in ("environment", "state", "environment_claim", "reclaimed_at"):
        assert f'class="sortable column-{column}' in html or f'class="column-{column}' in html
    rows = {row.pk: row for row in response.context["cl"].result_list}
    admin = response.context["cl"].model_admin
    assert {key: admin.state(rows[a.pk]) for key, a in seats.items()} == {
        "active": "active",
        "dead": "dead",
        "reclaimed": "reclaimed",
        "staging": "active",
        "never_dead": "active",
    }
    assert "development" in html  # the client's claim, shown beside the environment


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("?state=active", {"active", "staging", "never_dead"}),
        ("?state=dead", {"dead"}),
        ("?state=reclaimed", {"reclaimed"}),
        ("?environment=staging", {"staging"}),
        ("?environment=production", {"active", "dead", "reclaimed", "never_dead"}),
        ("?environment=production&state=active", {"active", "never_dead"}),
        ("", {"active", "dead", "reclaimed", "staging", "never_dead"}),
    ],
)
def test_activations_filter_by_state_and_environment(admin_client, seats, query, expected):
    assert listed(admin_client, query) == {seats[name].pk for name in expected}


def test_the_state_filter_follows_each_products_heartbeat(admin_client, seats):
    Product.objects.filter(slug="beating").update(heartbeat_seconds=2 * 24 * 3600)
    assert seats["dead"].pk in listed(admin_client, "?state=active")
    assert listed(admin_client, "?state=dead") == set()


def test_activation_page_shows_its_state_and_environment(admin_client, seats):
    activation = seats["reclaimed"]
    url = reverse("admin:activations_activation_change", args=[activation.pk])
    response = admin_client.get(url)
    assert response.status_code == 200
    html = response.content.decode().lower()
    assert "reclaimed" in html
    assert "production" in html


def test_license_page_lists_activations_with_environment_and_state(admin_client, seats):
    license_ = seats["dead"].license
    response = admin_client.get(reverse("admin:licensing_license_change", args=[license_.pk]))
    assert response.status_code == 200
    inline = next(
        formset
        for formset in response.context["inline_admin_formsets"]
        if formset.formset.model is Activation
    )
    assert {"environment", "state"} <= {field["name"] for field in inline.fields()}
    html = response.content.decode()
    assert "staging" in html
    assert "dead" in html
    assert "reclaimed" in html


# --- products: heartbeat and non-production limit ----------------------------------------


def product_form(product: Product, **fields: Any) -> dict[str, Any]:
    return {
        "name": product.name,
        "default_max_seats": product.default_max_seats or "",
        "heartbeat_seconds": "",
        "non_production_limit": 10,
        **fields,
    }


def test_product_admin_sets_a_heartbeat_and_a_limit_through_the_service(admin_client, product):
    url = reverse("admin:brands_product_change", args=[product.pk])
    assert admin_client.get(url).status_code == 200
    response = admin_client.post(
        url, product_form(product, heartbeat_seconds=900, non_production_limit=3)
    )
    assert response.status_code == 302, response.content
    product.refresh_from_db()
    assert (product.heartbeat_seconds, product.non_production_limit) == (900, 3)
    event = AuditEvent.objects.get(action="product.updated")
    assert (event.actor_type, event.actor) == ("staff", "ops")
    assert event.after is not None
    assert (event.after["heartbeat_seconds"], event.after["non_production_limit"]) == (900, 3)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("heartbeat_seconds", 59),
        ("heartbeat_seconds", 0),
        ("heartbeat_seconds", 365 * 24 * 3600 + 1),
        ("heartbeat_seconds", "soon"),
        ("non_production_limit", -1),
        ("non_production_limit", 10_001),
        ("non_production_limit", ""),
    ],
)
def test_product_admin_refuses_bad_seat_settings_as_form_errors(
    admin_client, product, field, value
):
    url = reverse("admin:brands_product_change", args=[product.pk])
    response = admin_client.post(url, product_form(product, **{field: value}))
    assert response.status_code == 200  # the form again
    assert field in response.context["adminform"].form.errors
    product.refresh_from_db()
    assert (product.heartbeat_seconds, product.non_production_limit) == (None, 10)
    assert not AuditEvent.objects.exists()


def test_product_admin_minimum_is_the_servers_setting(admin_client, product, settings):
    settings.LICENSE_SERVICE = {**settings.LICENSE_SERVICE, "HEARTBEAT_MIN_SECONDS": 2}
    url = reverse("admin:brands_product_change", args=[product.pk])
    assert admin_client.post(url, product_form(product, heartbeat_seconds=2)).status_code == 302
    product.refresh_from_db()
    assert product.heartbeat_seconds == 2


def test_product_added_with_a_heartbeat(admin_client, brand):
    response = admin_client.post(
        reverse("admin:brands_product_add"),
        {
            "brand": brand.pk,
            "name": "Content AI",
            "slug": "content-ai",
            "default_max_seats": 1,
            "heartbeat_seconds": 3600,
            "non_production_limit": 0,
        },
    )
    assert response.status_code == 302, response.content
    product = Product.objects.get(slug="content-ai")
    assert (product.heartbeat_seconds, product.non_production_limit) == (3600, 0)


# --- brands: non-production patterns, one per line ---------------------------------------


def brand_form(brand: Brand, product: Product, **fields: Any) -> dict[str, Any]:
    return {
        "name": brand.name,
        "is_active": "on",
        "non_production_patterns": "",
        "products-TOTAL_FORMS": 1,
        "products-INITIAL_FORMS": 1,
        "products-0-id": product.pk,
        "products-0-brand": brand.pk,
        "products-0-name": product.name,
        "products-0-default_max_seats": product.default_max_seats,
        "products-0-heartbeat_seconds": "",
        "products-0-non_production_limit": 10,
        "api_keys-TOTAL_FORMS": 0,
        "api_keys-INITIAL_FORMS": 0,
        **fields,
    }


def test_brand_admin_takes_one_pattern_per_line(admin_client, product):
    brand = product.brand
    response = admin_client.post(
        reverse("admin:brands_brand_change", args=[brand.pk]),
        brand_form(
            brand,
            product,
            non_production_patterns="*.staging.rankmath.com\r\n\r\n  dev-*.rankmath.org  \r\n",
        ),
    )
    assert response.status_code == 302, response.content
    brand.refresh_from_db()
    assert brand.non_production_patterns == ["*.staging.rankmath.com", "dev-*.rankmath.org"]
    event = AuditEvent.objects.get(action="brand.updated")
    assert event.after is not None
    assert event.after["non_production_patterns"] == brand.non_production_patterns

    page = admin_client.get(reverse("admin:brands_brand_change", args=[brand.pk]))
    assert "*.staging.rankmath.com\ndev-*.rankmath.org</textarea>" in page.content.decode()


@pytest.mark.parametrize("text", ["*", "Staging.RankMath.com", "rankmath", "a..b.com", "x.c*"])
def test_brand_admin_refuses_a_bad_pattern_as_a_form_error(admin_client, product, text):
    brand = product.brand
    response = admin_client.post(
        reverse("admin:brands_brand_change", args=[brand.pk]),
        brand_form(
            brand, product, name="Renamed", non_production_patterns=f"ok.example.com\n{text}"
        ),
    )
    assert response.status_code == 200
    assert "non_production_patterns" in response.context["adminform"].form.errors
    brand.refresh_from_db()
    assert (brand.name, brand.non_production_patterns) == ("RankMath", [])


def test_brand_added_with_patterns(admin_client):
    response = admin_client.post(
        reverse("admin:brands_brand_add"),
        {
            "name": "Acme",
            "slug": "acme",
            "key_prefix": "ACME",
            "non_production_patterns": "*.preview.acme.io",
            "products-TOTAL_FORMS": 0,
            "products-INITIAL_FORMS": 0,
            "api_keys-TOTAL_FORMS": 0,
            "api_keys-INITIAL_FORMS": 0,
        },
    )
    assert response.status_code == 302, response.content
    assert Brand.objects.get(slug="acme").non_production_patterns == ["*.preview.acme.io"]


def test_product_inline_refuses_a_bad_heartbeat(admin_client, product):
    brand = product.brand
    response = admin_client.post(
        reverse("admin:brands_brand_change", args=[brand.pk]),
        brand_form(brand, product, **{"products-0-heartbeat_seconds": 5}),
    )
    assert response.status_code == 200
    products = response.context["inline_admin_formsets"][0].formset
    assert products.model is Product
    assert list(products.errors[0]) == ["heartbeat_seconds"]
    product.refresh_from_db()
    assert product.heartbeat_seconds is None

"""``manage.py load_demo_data``: the demo tenants of ``make run``."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from audit.models import AuditEvent
from brands.authentication import api_key_lookup
from brands.management.commands.load_demo_data import DEMO_BRANDS
from brands.models import Brand, BrandApiKey, Product

pytestmark = pytest.mark.django_db

RANKMATH_KEY = "lsk_demo_rankmath_00000000000000000000000000000000"
WP_ROCKET_KEY = "lsk_demo_wp-rocket_0000000000000000000000000000000"


def load() -> str:
    out = StringIO()
    call_command("load_demo_data", stdout=out)
    return out.getvalue()


@pytest.fixture
def debug(settings):
    settings.DEBUG = True


def counts() -> tuple[int, ...]:
    return (
        Brand.objects.count(),
        Product.objects.count(),
        BrandApiKey.objects.count(),
        get_user_model().objects.count(),
        AuditEvent.objects.count(),
    )


def test_refuses_to_run_without_debug():
    with pytest.raises(CommandError, match="DEBUG"):
        load()
    assert counts() == (0, 0, 0, 0, 0)


def test_creates_the_demo_brands_and_products(debug):
    load()
    assert dict(Brand.objects.values_list("slug", "key_prefix")) == {
        "rankmath": "RNKM",
        "wp-rocket": "WPRK",
    }
    seats = {
        (p.brand.slug, p.slug): p.default_max_seats for p in Product.objects.select_related("brand")
    }
    assert seats == {
        ("rankmath", "rankmath-pro"): 3,
        ("rankmath", "content-ai"): None,
        ("wp-rocket", "wp-rocket"): 1,
    }


def test_demo_api_keys_work_and_are_stored_hashed(debug):
    load()
    for slug, plain in [("rankmath", RANKMATH_KEY), ("wp-rocket", WP_ROCKET_KEY)]:
        api_key = api_key_lookup(plain)
        assert api_key is not None
        assert api_key.brand.slug == slug
        assert api_key.scopes == ["licenses:read", "licenses:write"]
        assert plain not in api_key.key_hash
    assert {demo.api_key for demo in DEMO_BRANDS} == {RANKMATH_KEY, WP_ROCKET_KEY}


def test_demo_api_key_mints_a_brand_token(debug, api_client):
    load()
    response = api_client.post(
        "/api/v1/auth/brand-token/", {"api_key": RANKMATH_KEY}, format="json"
    )
    assert response.status_code == 200


def test_writes_go_through_the_services_and_are_audited(debug):
    load()
    actions = sorted(AuditEvent.objects.values_list("action", flat=True))
    assert actions == sorted(
        ["brand.created"] * 2 + ["product.created"] * 3 + ["api_key.created"] * 2
    )
    assert set(AuditEvent.objects.values_list("actor_type", "actor")) == {
        ("system", "load_demo_data")
    }


def test_creates_a_superuser_with_the_default_password(debug, monkeypatch):
    monkeypatch.delenv("DEMO_ADMIN_PASSWORD", raising=False)
    load()
    admin = get_user_model().objects.get(username="admin")
    assert admin.is_staff
    assert admin.is_superuser
    assert admin.check_password("admin")


def test_admin_password_comes_from_the_environment(debug, monkeypatch):
    monkeypatch.setenv("DEMO_ADMIN_PASSWORD", "s3cret-demo")
    output = load()
    assert get_user_model().objects.get(username="admin").check_password("s3cret-demo")
    assert "s3cret-demo" not in output


def test_running_twice_changes_nothing(debug):
    load()
    before = counts()
    admin_password = get_user_model().objects.get(username="admin").password
    output = load()
    assert counts() == before
    assert get_user_model().objects.get(username="admin").password == admin_password
    assert "already loaded" in output


def test_existing_brand_is_completed_not_duplicated(debug, brand):
    load()
    assert Brand.objects.filter(slug="rankmath").count() == 1
    assert brand.products.count() == 2


def test_prints_the_api_keys_and_the_admin_login(debug):
    for output in (load(), load()):
        assert RANKMATH_KEY in output
        assert WP_ROCKET_KEY in output
        assert '"admin"' in output

"""Django admin (SPEC §9): every page loads, nothing writes except through the services."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from activations.check.keys import check_cache_key
from activations.models import Activation
from audit.models import AuditEvent
from audit.services import Actor
from brands.authentication import api_key_lookup
from brands.models import Brand, BrandApiKey, Product
from brands.services import api_key_create
from licensing import admin as licensing_admin
from licensing.admin import one_year_after, renewal_expiry
from licensing.models import License
from licensing.services import license_suspend
from tests.factories import ActivationFactory, LicenseFactory

pytestmark = pytest.mark.django_db

MODELS = [
    "brands.brand",
    "brands.product",
    "brands.brandapikey",
    "licensing.licensekey",
    "licensing.license",
    "activations.activation",
    "audit.auditevent",
]


def new_license(**fields: Any) -> License:
    lic: License = LicenseFactory.create(**fields)
    return lic


def changelist(model: str) -> str:
    app, name = model.split(".")
    return reverse(f"admin:{app}_{name}_changelist")


def change(obj: Any) -> str:
    return reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])


def messages_of(response: Any) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


@pytest.fixture
def license_(product: Product) -> License:
    lic = new_license(
        product=product,
        license_key__customer_email="jane@example.com",
        expires_at=timezone.now() + timedelta(days=30),
    )
    ActivationFactory(license=lic, instance_identifier="example.com")
    license_suspend(license_=lic, actor=Actor.brand("rankmath"))
    lic.refresh_from_db()
    return lic


@pytest.fixture
def everything(license_: License, api_key: tuple[BrandApiKey, str], other_product: Product) -> None:
    """One row of every model (and audit events) so list and change pages render rows."""


def run_action(client: Any, model: str, action: str, objects: list[Any]) -> Any:
    return client.post(
        changelist(model),
        {"action": action, "index": 0, "_selected_action": [o.pk for o in objects]},
        follow=True,
    )


# --- every page loads --------------------------------------------------------------------


def test_admin_index_loads(admin_client, everything):
    assert admin_client.get(reverse("admin:index")).status_code == 200


@pytest.mark.parametrize("model", MODELS)
def test_changelist_loads(admin_client, everything, model):
    response = admin_client.get(changelist(model))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("term", ["rankmath", "jane@example.com", "1", "nothing-matches", "%00'"])
def test_changelist_search_loads(admin_client, everything, model, term):
    assert admin_client.get(changelist(model), {"q": term}).status_code == 200


@pytest.mark.parametrize("model", MODELS)
def test_change_page_of_every_model_loads(admin_client, everything, model):
    obj = apps.get_model(model).objects.first()
    assert admin_client.get(change(obj)).status_code == 200


@pytest.mark.parametrize("model", ["brands.brand", "brands.product", "brands.brandapikey"])
def test_add_page_loads_where_adding_is_allowed(admin_client, everything, model):
    app, name = model.split(".")
    assert admin_client.get(reverse(f"admin:{app}_{name}_add")).status_code == 200


@pytest.mark.parametrize(
    "model",
    ["licensing.licensekey", "licensing.license", "activations.activation", "audit.auditevent"],
)
def test_add_page_is_forbidden_where_rows_come_from_the_api(admin_client, model):
    app, name = model.split(".")
    assert admin_client.get(reverse(f"admin:{app}_{name}_add")).status_code == 403


def test_admin_needs_a_login(client):
    response = client.get(changelist("licensing.license"))
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


# --- brands, products, API keys ----------------------------------------------------------


def test_brand_added_in_the_admin_goes_through_the_service(admin_client):
    response = admin_client.post(
        reverse("admin:brands_brand_add"),
        {
            "name": "Acme",
            "slug": "acme",
            "key_prefix": "ACME",
            "products-TOTAL_FORMS": 1,
            "products-INITIAL_FORMS": 0,
            "products-0-name": "Acme Pro",
            "products-0-slug": "acme-pro",
            "products-0-default_max_seats": 2,
            "products-0-non_production_limit": 10,
            "api_keys-TOTAL_FORMS": 0,
            "api_keys-INITIAL_FORMS": 0,
        },
        follow=True,
    )
    assert response.status_code == 200
    brand = Brand.objects.get(slug="acme")
    assert brand.products.get().default_max_seats == 2
    events = AuditEvent.objects.filter(actor_type="staff", actor="ops")
    assert sorted(events.values_list("action", flat=True)) == ["brand.created", "product.created"]


def test_duplicate_brand_slug_is_refused_by_the_form(admin_client, brand):
    response = admin_client.post(
        reverse("admin:brands_brand_add"),
        {
            "name": "Again",
            "slug": "rankmath",
            "key_prefix": "AGN",
            "products-TOTAL_FORMS": 0,
            "products-INITIAL_FORMS": 0,
            "api_keys-TOTAL_FORMS": 0,
            "api_keys-INITIAL_FORMS": 0,
        },
    )
    assert response.status_code == 200  # the form again, with its error
    assert Brand.objects.count() == 1


def test_brand_edit_goes_through_the_service_and_keeps_slug_and_prefix(admin_client, product):
    brand = product.brand
    response = admin_client.post(
        change(brand),
        {
            "name": "Rank Math",
            "is_active": "on",
            "slug": "hijacked",
            "key_prefix": "HIJK",
            "products-TOTAL_FORMS": 1,
            "products-INITIAL_FORMS": 1,
            "products-0-id": product.id,
            "products-0-brand": brand.id,
            "products-0-name": "RankMath Pro",
            "products-0-slug": "hijacked",
            "products-0-default_max_seats": 5,
            "products-0-non_production_limit": 10,
            "api_keys-TOTAL_FORMS": 0,
            "api_keys-INITIAL_FORMS": 0,
        },
    )
    assert response.status_code == 302, response.content
    brand.refresh_from_db()
    product.refresh_from_db()
    assert (brand.name, brand.slug, brand.key_prefix, brand.is_active) == (
        "Rank Math",
        "rankmath",
        "RNKM",
        True,
    )
    assert (product.slug, product.default_max_seats) == ("rankmath-pro", 5)
    assert set(AuditEvent.objects.values_list("action", "actor")) == {
        ("brand.updated", "ops"),
        ("product.updated", "ops"),
    }


def test_product_added_in_the_admin_goes_through_the_service(admin_client, brand):
    response = admin_client.post(
        reverse("admin:brands_product_add"),
        {
            "brand": brand.id,
            "name": "Content AI",
            "slug": "content-ai",
            "default_max_seats": "",
            "non_production_limit": 10,
        },
    )
    assert response.status_code == 302
    assert Product.objects.get(slug="content-ai").default_max_seats is None
    assert AuditEvent.objects.get(action="product.created").actor == "ops"


def test_api_key_created_in_the_admin_is_shown_once(admin_client, brand):
    response = admin_client.post(
        reverse("admin:brands_brandapikey_add"),
        {"brand": brand.id, "name": "backend", "scopes": ["licenses:read", "ecosystem:read"]},
        follow=True,
    )
    assert response.status_code == 200
    api_key = BrandApiKey.objects.get()
    assert api_key.scopes == ["ecosystem:read", "licenses:read"]
    [plain] = [
        word
        for message in messages_of(response)
        for word in message.split()
        if word.startswith("lsk_")
    ]
    assert api_key_lookup(plain) == api_key
    event = AuditEvent.objects.get(action="api_key.created")
    assert (event.actor_type, event.actor) == ("staff", "ops")
    # The next page no longer carries it, and no page ever shows the hash.
    for url in (changelist("brands.brandapikey"), change(api_key), change(brand)):
        page = admin_client.get(url).content.decode()
        assert plain not in page
        assert api_key.key_hash not in page


def test_api_key_cannot_be_edited_or_deleted(admin_client, api_key):
    key = api_key[0]
    assert admin_client.post(change(key), {"name": "renamed"}).status_code == 403
    delete = reverse("admin:brands_brandapikey_delete", args=[key.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    key.refresh_from_db()
    assert key.name == "backend"


def test_revoke_action_goes_through_the_service(admin_client, api_key, brand):
    other, _ = api_key_create(brand=brand, name="spare", scopes=None, actor=Actor.system())
    response = run_action(admin_client, "brands.brandapikey", "revoke", [api_key[0], other])
    assert "Revoked 2 API key(s)." in messages_of(response)
    assert api_key_lookup(api_key[1]) is None
    events = AuditEvent.objects.filter(action="api_key.revoked")
    assert set(events.values_list("target_id", "actor")) == {
        (str(api_key[0].pk), "ops"),
        (str(other.pk), "ops"),
    }


def test_brands_and_products_cannot_be_deleted(admin_client, product):
    assert (
        admin_client.post(
            reverse("admin:brands_brand_delete", args=[product.brand_id]), {"post": "yes"}
        ).status_code
        == 403
    )
    assert (
        admin_client.post(
            reverse("admin:brands_product_delete", args=[product.pk]), {"post": "yes"}
        ).status_code
        == 403
    )


# --- licenses ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "term",
    ["jane@example.com", "JANE@example", "rankmath", "rankmath-pro", "RankMath Pro", "suspended"],
)
def test_license_search_finds_by_email_brand_product_and_status(
    admin_client, license_, other_product, term
):
    new_license(product=other_product, license_key__customer_email="bob@example.com")
    response = admin_client.get(changelist("licensing.license"), {"q": term})
    assert list(response.context["cl"].result_list) == [license_]


def test_license_search_finds_a_key_typed_carelessly(admin_client, license_):
    typed = license_.license_key.key.replace("-", "").lower()
    response = admin_client.get(changelist("licensing.license"), {"q": typed})
    assert list(response.context["cl"].result_list) == [license_]
    response = admin_client.get(changelist("licensing.licensekey"), {"q": f"  {typed} "})
    assert list(response.context["cl"].result_list) == [license_.license_key]


@pytest.mark.parametrize(
    ("query", "expected"),
    [({"status__exact": "suspended"}, 1), ({"status__exact": "valid"}, 0)],
)
def test_licenses_filter_by_status(admin_client, license_, query, expected):
    response = admin_client.get(changelist("licensing.license"), query)
    assert response.context["cl"].result_count == expected


def test_licenses_filter_by_brand_and_product(admin_client, license_, other_product):
    new_license(product=other_product)
    by_brand = admin_client.get(
        changelist("licensing.license"), {"product__brand__id__exact": license_.product.brand_id}
    )
    assert list(by_brand.context["cl"].result_list) == [license_]
    by_product = admin_client.get(
        changelist("licensing.license"), {"product__id__exact": license_.product_id}
    )
    assert list(by_product.context["cl"].result_list) == [license_]


def test_license_page_shows_activations_and_audit_trail(admin_client, license_):
    page = admin_client.get(change(license_)).content.decode()
    assert "example.com" in page
    assert "license.suspended" in page
    assert "All events of this license" in page


def test_license_change_form_is_read_only(admin_client, license_):
    response = admin_client.post(
        change(license_), {"status": "valid", "max_seats": 99, "expires_at_0": "2099-01-01"}
    )
    assert response.status_code == 403
    license_.refresh_from_db()
    assert (license_.status, license_.max_seats) == ("suspended", 3)


def test_licenses_cannot_be_deleted(admin_client, license_):
    delete = reverse("admin:licensing_license_delete", args=[license_.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    assert License.objects.filter(pk=license_.pk).exists()


def test_resume_action_goes_through_the_service(admin_client, license_):
    response = run_action(admin_client, "licensing.license", "resume", [license_])
    assert "Resumed 1 license(s)." in messages_of(response)
    license_.refresh_from_db()
    assert license_.status == "valid"
    event = AuditEvent.objects.get(action="license.resumed")
    assert (event.actor_type, event.actor, event.license_id) == ("staff", "ops", license_.pk)


def test_suspend_action_reports_refusals_per_license(admin_client, license_, product):
    valid = new_license(product=product)
    response = run_action(admin_client, "licensing.license", "suspend", [license_, valid])
    notes = messages_of(response)
    assert f"License {license_.pk}: Cannot suspend a license that is suspended." in notes
    assert "Suspended 1 license(s)." in notes
    valid.refresh_from_db()
    assert valid.status == "suspended"


def test_cancel_action_releases_seats_through_the_service(admin_client, license_):
    run_action(admin_client, "licensing.license", "cancel", [license_])
    license_.refresh_from_db()
    assert license_.status == "cancelled"
    assert not Activation.objects.filter(license=license_).exists()
    assert AuditEvent.objects.filter(action="activation.released", actor="ops").count() == 1
    assert AuditEvent.objects.filter(action="license.cancelled", actor="ops").count() == 1


def test_renew_action_adds_a_year_to_a_future_expiry(admin_client, license_):
    expiry = license_.expires_at
    run_action(admin_client, "licensing.license", "renew", [license_])
    license_.refresh_from_db()
    assert license_.expires_at == one_year_after(expiry)
    assert license_.status == "suspended"  # renewal keeps a suspension
    assert AuditEvent.objects.get(action="license.renewed").actor == "ops"


def test_renew_action_counts_a_year_from_now_for_an_expired_license(admin_client, product):
    expired = new_license(product=product, expires_at=timezone.now() - timedelta(days=10))
    before = timezone.now()
    run_action(admin_client, "licensing.license", "renew", [expired])
    expired.refresh_from_db()
    assert expired.expires_at is not None
    assert one_year_after(before) <= expired.expires_at <= one_year_after(timezone.now())
    assert expired.effective_status() == "valid"


def test_renew_action_leaves_lifetime_licenses_alone(admin_client, product):
    lifetime = new_license(product=product, expires_at=None)
    response = run_action(admin_client, "licensing.license", "renew", [lifetime])
    assert f"License {lifetime.pk}: lifetime license, nothing to renew." in messages_of(response)
    lifetime.refresh_from_db()
    assert lifetime.expires_at is None
    assert not AuditEvent.objects.filter(action="license.renewed").exists()


def test_renew_action_refuses_a_cancelled_license(admin_client, product):
    cancelled = new_license(
        product=product, status="cancelled", expires_at=timezone.now() + timedelta(days=1)
    )
    response = run_action(admin_client, "licensing.license", "renew", [cancelled])
    assert any("Cannot renew" in note for note in messages_of(response))


def test_admin_action_invalidates_the_check_cache(
    admin_client, license_, django_capture_on_commit_callbacks
):
    key = check_cache_key(license_.license_key.key)
    cache.set(key, {"cached": True})
    with django_capture_on_commit_callbacks(execute=True):
        run_action(admin_client, "licensing.license", "resume", [license_])
    assert cache.get(key) is None


def test_admin_actions_call_the_licensing_services(admin_client, license_, monkeypatch):
    calls: list[tuple[str, int, str]] = []

    def spy(name: str) -> Any:
        def service(*, license_: License, actor: Actor, **kwargs: Any) -> License:
            calls.append((name, license_.pk, actor.name))
            return license_

        return service

    for name in ("license_suspend", "license_resume", "license_cancel", "license_renew"):
        monkeypatch.setattr(licensing_admin, name, spy(name))
    for action in ("suspend", "resume", "cancel", "renew"):
        run_action(admin_client, "licensing.license", action, [license_])
    assert calls == [
        (name, license_.pk, "ops")
        for name in ("license_suspend", "license_resume", "license_cancel", "license_renew")
    ]


def test_lifecycle_actions_need_their_console_permissions(license_):
    viewer = get_user_model().objects.create_user(username="viewer", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_license"))
    client = Client()
    client.force_login(viewer)
    response = client.get(changelist("licensing.license"))
    assert response.status_code == 200
    assert response.context["action_form"] is None
    run_action(client, "licensing.license", "resume", [license_])
    license_.refresh_from_db()
    assert license_.status == "suspended"


def test_renewal_expiry_is_a_year_from_the_later_of_now_and_expiry():
    now = datetime(2030, 6, 1, tzinfo=UTC)
    assert renewal_expiry(datetime(2030, 9, 1, tzinfo=UTC), now) == datetime(2031, 9, 1, tzinfo=UTC)
    assert renewal_expiry(datetime(2030, 1, 1, tzinfo=UTC), now) == datetime(2031, 6, 1, tzinfo=UTC)
    assert one_year_after(datetime(2028, 2, 29, tzinfo=UTC)) == datetime(2029, 2, 28, tzinfo=UTC)


# --- activations and audit: read-only ----------------------------------------------------


def test_activation_admin_is_read_only(admin_client, license_):
    activation = Activation.objects.get(license=license_)
    assert admin_client.post(change(activation), {"instance_identifier": "x"}).status_code == 403
    delete = reverse("admin:activations_activation_delete", args=[activation.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403


def test_audit_events_cannot_be_added_changed_or_deleted(admin_client, license_):
    event = AuditEvent.objects.first()
    assert event is not None
    assert admin_client.get(reverse("admin:audit_auditevent_add")).status_code == 403
    assert admin_client.post(change(event), {"action": "forged"}).status_code == 403
    delete = reverse("admin:audit_auditevent_delete", args=[event.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    response = admin_client.get(changelist("audit.auditevent"))
    assert response.context["action_form"] is None
    event.refresh_from_db()
    assert event.action == "license.suspended"


def test_audit_search_by_target_and_request_id(admin_client, license_):
    event = AuditEvent.objects.get(action="license.suspended")
    for term in (event.target_id, event.request_id or "no-request-id"):
        response = admin_client.get(changelist("audit.auditevent"), {"q": term})
        assert response.status_code == 200
    response = admin_client.get(changelist("audit.auditevent"), {"q": str(license_.pk)})
    assert event in response.context["cl"].result_list


def test_audit_filters_by_action_and_actor_type(admin_client, license_):
    response = admin_client.get(
        changelist("audit.auditevent"),
        {"action": "license.suspended", "actor_type__exact": "brand"},
    )
    assert response.context["cl"].result_count == 1

"""What staff read (SPEC §15): titles, lists that fit, search and filters, the audit trail as
a table of changes; the groups the migration ships; the landing routes."""

from __future__ import annotations

import importlib
from datetime import timedelta
from typing import Any

import pytest
from django.apps import apps as django_apps
from django.contrib.auth.models import Group
from django.db import connection, transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from activations.models import Activation
from audit.display import actor_label, changed_fields
from audit.models import AuditEvent
from audit.services import Actor
from license_service.context import client_ip_var, request_id_var
from licensing.keys import key_masked
from licensing.models import License
from licensing.services import license_key_change_email, license_set_seats, license_suspend
from tests.factories import ActivationFactory, LicenseFactory

pytestmark = pytest.mark.django_db

GROUPS = importlib.import_module("licensing.migrations.0004_staff_groups")


@pytest.fixture
def admin_client(staff_user: Any) -> Client:
    client = Client()
    client.force_login(staff_user)
    return client


def changelist(client: Client, query: dict[str, Any] | None = None) -> list[License]:
    response = client.get(reverse("admin:licensing_license_changelist"), query or {})
    assert response.status_code == 200
    return list(response.context["cl"].result_list)


# --- the groups ---------------------------------------------------------------------------


def perms(name: str) -> set[str]:
    group = Group.objects.get(name=name)
    return {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.all()}


def test_migration_ships_support_and_billing_groups():
    support, billing = perms("support"), perms("billing")
    assert {"licensing.release_activation", "licensing.change_customer_email"} <= support
    assert not support & {
        "licensing.cancel_license",
        "licensing.renew_license",
        "licensing.suspend_license",
        "licensing.change_seats",
        "licensing.issue_license",
    }
    assert {
        "licensing.issue_license",
        "licensing.suspend_license",
        "licensing.renew_license",
        "licensing.cancel_license",
        "licensing.change_seats",
    } <= billing
    assert "licensing.release_activation" not in billing
    assert {"licensing.view_license", "activations.view_activation", "audit.view_auditevent"} <= (
        support & billing
    )


def test_running_the_group_migration_again_changes_nothing():
    before = {name: perms(name) for name in ("support", "billing")}

    class Editor:
        connection = connection

    GROUPS.create_groups(django_apps, Editor())
    assert Group.objects.filter(name__in=["support", "billing"]).count() == 2
    assert {name: perms(name) for name in ("support", "billing")} == before


# --- titles, list, search, filters --------------------------------------------------------


def test_a_license_is_titled_by_its_masked_key_and_product(admin_client, product):
    lic = LicenseFactory.create(product=product)
    assert str(lic) == f"{key_masked(lic.license_key.key)} · rankmath-pro"
    page = admin_client.get(reverse("admin:licensing_license_change", args=[lic.pk]))
    html = page.content.decode()
    assert f"<h2>{key_masked(lic.license_key.key)} · rankmath-pro</h2>" in html


def test_the_list_shows_masked_keys_and_one_status_badge(admin_client, product):
    lic = LicenseFactory.create(product=product, license_key__customer_email="ann@example.com")
    ActivationFactory.create(license=lic)
    response = admin_client.get(reverse("admin:licensing_license_changelist"))
    html = response.content.decode()
    assert key_masked(lic.license_key.key) in html
    assert lic.license_key.key not in html  # the full key is on the key's page only
    assert 'class="ls-badge ls-valid">valid<' in html
    assert "column-status" not in html  # no raw stored status beside the effective one
    assert "1 / 3" in html
    for column in ("masked_key", "customer_email", "brand", "product_slug", "expiry", "seats"):
        assert f"column-{column}" in html


@pytest.mark.parametrize(
    "term", ["shop.example.com", "https://www.Shop.Example.com/", "ann@example.com"]
)
def test_search_finds_a_license_by_site_or_email(admin_client, product, term):
    lic = LicenseFactory.create(product=product, license_key__customer_email="ann@example.com")
    ActivationFactory.create(license=lic, instance_identifier="shop.example.com")
    LicenseFactory.create(product=product)
    assert changelist(admin_client, {"q": term}) == [lic]


def test_licenses_filter_by_environment_and_effective_status(admin_client, product):
    staging = LicenseFactory.create(product=product)
    ActivationFactory.create(
        license=staging, instance_identifier="staging.a.com", environment="staging"
    )
    expired = LicenseFactory.create(product=product, expires_at=timezone.now() - timedelta(days=1))
    valid = LicenseFactory.create(product=product)
    assert changelist(admin_client, {"environment": "staging"}) == [staging]
    assert changelist(admin_client, {"status": "expired"}) == [expired]
    assert changelist(admin_client, {"status": "valid"}) == [staging, valid]


def test_the_list_has_an_issue_button_for_those_who_may(admin_client):
    html = admin_client.get(reverse("admin:licensing_license_changelist")).content.decode()
    assert reverse("admin:licensing_license_issue") in html


# --- the audit trail ----------------------------------------------------------------------


def test_the_audit_trail_is_a_table_of_changed_fields_with_actor_request_and_ip(
    admin_client, product
):
    lic = LicenseFactory.create(product=product)
    request_id_var.set("req-123")
    client_ip_var.set("203.0.113.9")
    with transaction.atomic():
        license_set_seats(license_=lic, max_seats=7, actor=Actor.staff("ana"))
        license_suspend(license_=lic, actor=Actor.brand("rankmath"))
    html = admin_client.get(
        reverse("admin:licensing_license_change", args=[lic.pk])
    ).content.decode()
    assert "<td>max_seats</td><td>3</td>" in html
    assert "<td>7</td>" in html
    assert "<td>status</td><td>valid</td>" in html
    for shown in ("staff: ana", "brand: rankmath", "req-123", "203.0.113.9"):
        assert shown in html
    assert "{&#x27;" not in html  # no raw dict text


def test_changed_fields_lists_only_what_differs():
    assert changed_fields(
        {"status": "valid", "max_seats": 3}, {"status": "valid", "max_seats": 5}
    ) == [("max_seats", "3", "5")]
    assert changed_fields(None, {"status": "valid"}) == [("status", "—", "valid")]
    assert changed_fields({"instance_identifier": "a.com"}, None) == [
        ("instance_identifier", "a.com", "—")
    ]


def test_a_product_actor_is_shown_with_its_key_prefix():
    event = AuditEvent(actor_type="product", actor="product")
    assert actor_label(event, "RNKM-ABCDE") == "product (key RNKM-ABCDE)"
    assert actor_label(AuditEvent(actor_type="staff", actor="ana")) == "staff: ana"


def test_the_key_page_shows_its_email_corrections(admin_client, product):
    lic = LicenseFactory.create(product=product)
    license_key_change_email(
        license_key=lic.license_key, customer_email="b@example.com", actor=Actor.staff("ana")
    )
    page = admin_client.get(reverse("admin:licensing_licensekey_change", args=[lic.license_key_id]))
    html = page.content.decode()
    assert "license_key.email_changed" in html
    assert "<td>customer_email</td>" in html
    # ... and so does the page of each license on the key.
    page = admin_client.get(reverse("admin:licensing_license_change", args=[lic.pk]))
    assert "license_key.email_changed" in page.content.decode()


def test_activation_pages_show_masked_keys(admin_client, product):
    activation: Activation = ActivationFactory.create(
        license=LicenseFactory.create(product=product)
    )
    html = admin_client.get(reverse("admin:activations_activation_changelist")).content.decode()
    assert key_masked(activation.license.license_key.key) in html
    assert activation.license.license_key.key not in html


# --- landing ------------------------------------------------------------------------------


def test_root_gives_others_a_json_index_of_the_api(client):
    response = client.get("/")
    assert response.status_code == 200
    links = response.json()["links"]
    assert (links["docs"], links["schema"], links["health"]) == (
        "/api/docs/",
        "/api/schema/",
        "/healthz",
    )


def test_root_sends_signed_in_staff_to_the_admin(admin_client):
    response = admin_client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/admin/"


def test_root_ignores_a_bogus_session_cookie(client):
    client.cookies["sessionid"] = "not-a-session"
    assert client.get("/").status_code == 200


def test_root_refuses_other_methods_in_json(client):
    response = client.post("/")
    assert response.status_code == 405
    assert response.json()["error"] == "method_not_allowed"


def test_admin_without_slash_redirects(client):
    response = client.get("/admin")
    assert response.status_code == 301
    assert response["Location"] == "/admin/"


def test_admin_has_a_header_and_a_real_view_site_link(admin_client):
    html = admin_client.get(reverse("admin:index")).content.decode()
    assert "License Service · staff console" in html
    assert 'href="/api/docs/"' in html
    assert admin_client.get("/api/docs/").status_code == 200

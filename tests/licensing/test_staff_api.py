"""The staff API's licenses and keys (SPEC §4): search across brands, one license, and the
console's buttons by API, each checking the same permission as its button (groups
``support`` and ``billing``), through the same service: audited with the staff user,
reflected by the product check at once; bad input is a 400 naming the field, nothing
changed."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from activations.models import Activation
from audit.models import AuditEvent
from brands.models import MAX_SEATS, Product
from licensing.models import License
from tests.brands.envelope import assert_error
from tests.factories import ActivationFactory, LicenseFactory, LicenseKeyFactory

pytestmark = pytest.mark.django_db


def staff_api(*groups: str, username: str | None = None, perms: tuple[str, ...] = ()) -> APIClient:
    """A staff user's JWT client, in ``groups`` (licensing migration 0004) and with
    ``perms`` (codenames) of their own."""
    user = get_user_model().objects.create_user(
        username=username or "-".join(groups) or "nobody", password="pw", is_staff=True
    )
    for name in groups:
        user.groups.add(Group.objects.get(name=name))
    user.user_permissions.add(*Permission.objects.filter(codename__in=perms))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(user).access_token}")
    return client


@pytest.fixture
def support(db: Any) -> APIClient:
    return staff_api("support")


@pytest.fixture
def billing(db: Any) -> APIClient:
    return staff_api("billing")


@pytest.fixture
def license_(product: Product) -> License:
    lic: License = LicenseFactory.create(
        product=product,
        license_key__customer_email="jane@example.com",
        expires_at=timezone.now() + timedelta(days=30),
        max_seats=3,
    )
    for site in ("shop.example.com", "blog.example.com", "old.example.com"):
        ActivationFactory.create(license=lic, instance_identifier=site)
    return lic


def checked(key: str) -> dict[str, Any]:
    """The product check's answer for the key (cached after the first)."""
    response = APIClient().get(f"/api/v1/product/check/{key}")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def entitlement(key: str) -> dict[str, Any]:
    (only,) = checked(key)["entitlements"]
    return dict(only)


def audited(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action))


def send(client: APIClient, method: str, url: str, body: Any, capture: Any) -> Any:
    """The request, with its on-commit callbacks (the cache invalidation) run."""
    with capture(execute=True):
        return getattr(client, method)(url, body, format="json")


def base(license_: License) -> str:
    return f"/api/v1/licenses/{license_.pk}"


# --- who may call ------------------------------------------------------------------------


def endpoints(license_: License) -> list[tuple[str, str, Any]]:
    activation = license_.activations.order_by("pk").first()
    assert activation is not None
    return [
        ("get", "/api/v1/licenses/", None),
        ("get", f"{base(license_)}/", None),
        ("post", f"{base(license_)}/suspend/", {}),
        ("post", f"{base(license_)}/resume/", {}),
        ("post", f"{base(license_)}/cancel/", {}),
        ("post", f"{base(license_)}/renew/", {"expires_at": "2099-01-01T00:00:00Z"}),
        ("post", f"{base(license_)}/seats/", {"max_seats": 9}),
        ("delete", f"{base(license_)}/activations/{activation.pk}/", None),
        ("patch", f"/api/v1/license-keys/{license_.license_key_id}/", {"customer_email": "x@y.z"}),
    ]


def test_every_license_endpoint_needs_a_staff_token(api_client, license_):
    for method, url, body in endpoints(license_):
        assert_error(
            getattr(api_client, method)(url, body, format="json"), 401, "not_authenticated"
        )


def test_every_license_endpoint_refuses_staff_without_its_permission(license_):
    nobody = staff_api(username="nobody")
    before = License.objects.values().get(pk=license_.pk)
    for method, url, body in endpoints(license_):
        assert_error(getattr(nobody, method)(url, body, format="json"), 403, "permission_denied")
    assert License.objects.values().get(pk=license_.pk) == before
    assert Activation.objects.filter(license=license_).count() == 3
    assert not AuditEvent.objects.exists()


def test_a_brand_credential_is_no_staff_credential(brand_client, license_):
    assert_error(brand_client.get("/api/v1/licenses/"), 401, "not_authenticated")


@pytest.mark.parametrize("action", ["suspend", "resume", "cancel", "renew", "seats"])
def test_support_may_not_use_the_billing_actions(support, license_, action):
    body = {"expires_at": "2099-01-01T00:00:00Z", "max_seats": 9}
    before = License.objects.values().get(pk=license_.pk)
    response = support.post(f"{base(license_)}/{action}/", body, format="json")
    assert_error(response, 403, "permission_denied")
    assert License.objects.values().get(pk=license_.pk) == before
    assert not AuditEvent.objects.exists()


def test_billing_may_neither_release_seats_nor_correct_emails(billing, license_):
    activation = license_.activations.order_by("pk").first()
    response = billing.delete(f"{base(license_)}/activations/{activation.pk}/")
    assert_error(response, 403, "permission_denied")
    response = billing.patch(
        f"/api/v1/license-keys/{license_.license_key_id}/",
        {"customer_email": "x@example.com"},
        format="json",
    )
    assert_error(response, 403, "permission_denied")
    assert Activation.objects.filter(license=license_).count() == 3
    license_.license_key.refresh_from_db()
    assert license_.license_key.customer_email == "jane@example.com"


# --- reading -----------------------------------------------------------------------------


def test_support_finds_a_customer_by_email_across_brands(support, license_, other_product):
    elsewhere = LicenseFactory.create(
        product=other_product, license_key__customer_email="jane@example.com"
    )
    LicenseFactory.create(product=license_.product, license_key__customer_email="bob@example.com")
    response = support.get("/api/v1/licenses/", {"email": "Jane@EXAMPLE.com"})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"next", "previous", "results"}
    found = {(row["license_id"], row["brand"]) for row in body["results"]}
    assert found == {(license_.pk, "rankmath"), (elsewhere.pk, "wp-rocket")}


def test_a_key_typed_loosely_is_found(support, license_):
    loose = license_.license_key.key.lower().replace("-", "")
    response = support.get("/api/v1/licenses/", {"key": loose})
    (row,) = response.json()["results"]
    assert row["license_id"] == license_.pk
    assert row["license_key_id"] == license_.license_key_id
    assert row["seats_used"] == 3


def test_a_value_that_cannot_be_a_key_finds_nothing(support, license_):
    response = support.get("/api/v1/licenses/", {"key": "RNKM-NOT-A-KEY"})
    assert response.status_code == 200
    assert response.json()["results"] == []


def test_the_search_filters_by_brand_product_and_status(support, license_, other_product):
    LicenseFactory.create(product=other_product)
    suspended = LicenseFactory.create(product=license_.product, status="suspended")

    def ids(**query: str) -> set[int]:
        return {
            row["license_id"] for row in support.get("/api/v1/licenses/", query).json()["results"]
        }

    assert ids(brand="rankmath") == {license_.pk, suspended.pk}
    assert ids(brand="rankmath", status="suspended") == {suspended.pk}
    assert ids(product="rankmath-pro", status="valid") == {license_.pk}
    assert ids(brand="nope") == set()


def test_a_bad_filter_is_a_400_naming_it(support):
    body = assert_error(
        support.get("/api/v1/licenses/", {"status": "gone"}), 400, "validation_error"
    )
    assert "status" in body["details"]


def test_one_license_has_its_brand_key_and_activations(support, license_):
    response = support.get(f"{base(license_)}/")
    assert response.status_code == 200
    body = response.json()
    assert body["license_id"] == license_.pk
    assert body["brand"] == "rankmath"
    assert body["license_key"] == license_.license_key.key
    assert body["license_key_id"] == license_.license_key_id
    assert body["seats_used"] == 3
    sites = {a["instance_identifier"] for a in body["activations"]}
    assert sites == {"shop.example.com", "blog.example.com", "old.example.com"}


def test_an_unknown_license_is_a_404(support, billing):
    assert_error(support.get("/api/v1/licenses/987654/"), 404, "not_found")
    assert_error(billing.post("/api/v1/licenses/987654/suspend/"), 404, "not_found")
    assert_error(
        support.patch("/api/v1/license-keys/987654/", {"customer_email": "a@b.co"}, format="json"),
        404,
        "not_found",
    )


# --- suspend / resume / cancel -------------------------------------------------------------


def test_billing_suspends_and_the_check_says_so_at_once(
    billing, license_, django_capture_on_commit_callbacks
):
    key = license_.license_key.key
    assert entitlement(key)["status"] == "valid"  # now cached
    response = send(
        billing, "post", f"{base(license_)}/suspend/", None, django_capture_on_commit_callbacks
    )
    assert response.status_code == 200
    assert response.json()["status"] == "suspended"
    license_.refresh_from_db()
    assert license_.status == "suspended"
    (event,) = audited("license.suspended")
    assert (event.actor_type, event.actor, event.license_id) == ("staff", "billing", license_.pk)
    assert entitlement(key)["status"] == "suspended"


def test_billing_resumes_a_suspended_license(billing, license_, django_capture_on_commit_callbacks):
    License.objects.filter(pk=license_.pk).update(status="suspended")
    key = license_.license_key.key
    assert entitlement(key)["status"] == "suspended"
    response = send(
        billing, "post", f"{base(license_)}/resume/", {}, django_capture_on_commit_callbacks
    )
    assert response.json()["status"] == "valid"
    (event,) = audited("license.resumed")
    assert event.actor == "billing"
    assert entitlement(key)["status"] == "valid"


def test_billing_cancels_and_every_site_is_released(
    billing, license_, django_capture_on_commit_callbacks
):
    key = license_.license_key.key
    assert entitlement(key)["seats_used"] == 3
    response = send(
        billing, "post", f"{base(license_)}/cancel/", None, django_capture_on_commit_callbacks
    )
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["activations"]) == ("cancelled", [])
    assert not Activation.objects.filter(license=license_).exists()
    assert len(audited("license.cancelled")) == 1
    assert {e.actor for e in audited("activation.released")} == {"billing"}
    answer = entitlement(key)
    assert (answer["status"], answer["seats_used"]) == ("cancelled", 0)


def test_a_refused_transition_is_a_409_and_nothing_changes(billing, license_):
    License.objects.filter(pk=license_.pk).update(status="cancelled")
    body = assert_error(billing.post(f"{base(license_)}/suspend/"), 409, "invalid_transition")
    assert body["details"]["current_status"] == "cancelled"
    assert not audited("license.suspended")


# --- renew ---------------------------------------------------------------------------------


def test_billing_renews_to_a_date(billing, license_, django_capture_on_commit_callbacks):
    key = license_.license_key.key
    entitlement(key)
    response = send(
        billing,
        "post",
        f"{base(license_)}/renew/",
        {"expires_at": "2031-12-31T23:59:59+00:00"},
        django_capture_on_commit_callbacks,
    )
    assert response.status_code == 200
    assert response.json()["expires_at"].startswith("2031-12-31T23:59:59")
    (event,) = audited("license.renewed")
    assert event.actor == "billing"
    assert entitlement(key)["expires_at"].startswith("2031-12-31T23:59:59")


@pytest.mark.parametrize(
    "body", [{"expires_at": "2001-01-01T00:00:00Z"}, {"expires_at": "2031-01-01"}, {}]
)
def test_a_bad_renew_date_is_a_400_naming_it_and_nothing_changes(billing, license_, body):
    before = License.objects.values().get(pk=license_.pk)
    response = billing.post(f"{base(license_)}/renew/", body, format="json")
    assert "expires_at" in assert_error(response, 400, "validation_error")["details"]
    assert License.objects.values().get(pk=license_.pk) == before
    assert not audited("license.renewed")


# --- seats ---------------------------------------------------------------------------------


def test_billing_changes_seats_and_the_check_sees_them(
    billing, license_, django_capture_on_commit_callbacks
):
    key = license_.license_key.key
    assert entitlement(key)["max_seats"] == 3
    response = send(
        billing,
        "post",
        f"{base(license_)}/seats/",
        {"max_seats": 7},
        django_capture_on_commit_callbacks,
    )
    assert (response.status_code, response.json()["max_seats"]) == (200, 7)
    (event,) = audited("license.seats_changed")
    assert event.actor == "billing"
    assert entitlement(key)["max_seats"] == 7


def test_null_seats_mean_unlimited(billing, license_):
    response = billing.post(f"{base(license_)}/seats/", {"max_seats": None}, format="json")
    assert response.json()["max_seats"] is None


@pytest.mark.parametrize("seats", [0, -1, MAX_SEATS + 1, "5", 2.5])
def test_bad_seats_are_a_400_naming_them_and_nothing_changes(billing, license_, seats):
    response = billing.post(f"{base(license_)}/seats/", {"max_seats": seats}, format="json")
    assert "max_seats" in assert_error(response, 400, "validation_error")["details"]
    license_.refresh_from_db()
    assert license_.max_seats == 3
    assert not audited("license.seats_changed")


# --- release a seat ------------------------------------------------------------------------


def test_support_releases_a_seat_and_the_check_counts_it(
    support, license_, django_capture_on_commit_callbacks
):
    key = license_.license_key.key
    assert entitlement(key)["seats_used"] == 3
    site = license_.activations.get(instance_identifier="old.example.com")
    response = send(
        support,
        "delete",
        f"{base(license_)}/activations/{site.pk}/",
        None,
        django_capture_on_commit_callbacks,
    )
    assert response.status_code == 204
    assert not Activation.objects.filter(pk=site.pk).exists()
    (event,) = audited("activation.released")
    assert (event.actor_type, event.actor) == ("staff", "support")
    assert entitlement(key)["seats_used"] == 2


def test_another_licenses_activation_is_not_found(support, license_, product):
    other = ActivationFactory.create(license=LicenseFactory.create(product=product))
    response = support.delete(f"{base(license_)}/activations/{other.pk}/")
    assert_error(response, 404, "activation_not_found")
    assert Activation.objects.filter(pk=other.pk).exists()
    assert not audited("activation.released")


def test_releasing_on_an_unknown_license_is_a_404(support):
    assert_error(support.delete("/api/v1/licenses/987654/activations/1/"), 404, "not_found")


# --- correct an e-mail ---------------------------------------------------------------------


def test_support_corrects_an_email_audited_and_the_check_shows_it(
    support, license_, django_capture_on_commit_callbacks
):
    key = license_.license_key
    assert checked(key.key)["customer_email_masked"].startswith("j")
    response = send(
        support,
        "patch",
        f"/api/v1/license-keys/{key.pk}/",
        {"customer_email": " Mary@Example.COM "},
        django_capture_on_commit_callbacks,
    )
    assert response.status_code == 200
    assert response.json() == {
        "id": key.pk,
        "license_key": key.key,
        "customer_email": "mary@example.com",
        "brand": "rankmath",
        "created_at": response.json()["created_at"],
    }
    (event,) = audited("license_key.email_changed")
    assert (event.before, event.after) == (
        {"customer_email": "jane@example.com"},
        {"customer_email": "mary@example.com"},
    )
    assert (event.actor_type, event.actor) == ("staff", "support")
    assert checked(key.key)["customer_email_masked"].startswith("m")


@pytest.mark.parametrize(
    "email", ["not-an-email", "taken@example.com", "", None, 5, "a@" + "b" * 300 + ".com"]
)
def test_a_bad_email_is_a_400_naming_it_and_nothing_changes(support, license_, email):
    LicenseKeyFactory.create(brand=license_.product.brand, customer_email="taken@example.com")
    key = license_.license_key
    response = support.patch(
        f"/api/v1/license-keys/{key.pk}/", {"customer_email": email}, format="json"
    )
    assert "customer_email" in assert_error(response, 400, "validation_error")["details"]
    key.refresh_from_db()
    assert key.customer_email == "jane@example.com"
    assert not audited("license_key.email_changed")


def test_another_brands_key_with_that_email_is_no_conflict(support, license_, other_brand):
    LicenseKeyFactory.create(brand=other_brand, customer_email="taken@example.com")
    key = license_.license_key
    response = support.patch(
        f"/api/v1/license-keys/{key.pk}/", {"customer_email": "taken@example.com"}, format="json"
    )
    assert response.status_code == 200
    key.refresh_from_db()
    assert key.customer_email == "taken@example.com"


def test_a_superuser_may_do_everything(license_):
    root = get_user_model().objects.create_superuser(username="root", password="pw")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(root).access_token}")
    assert client.post(f"{base(license_)}/suspend/").status_code == 200
    assert client.get("/api/v1/licenses/").status_code == 200

"""The staff console's buttons (SPEC §15), each through its service: allowed for the group
that holds its permission, 403 for the other group, audited, and reflected by the product
check right after (its cached answer forgotten); bad input is a form error, nothing changed."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from activations.models import Activation
from audit.models import AuditEvent
from licensing import admin as licensing_admin
from licensing.models import License, LicenseKey
from tests.console.conftest import client_of
from tests.factories import LicenseFactory, LicenseKeyFactory, ProductFactory

pytestmark = pytest.mark.django_db


def url(view: str, obj: Any) -> str:
    return reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_{view}", args=[obj.pk])


def checked(key: str) -> dict[str, Any]:
    """The product check's answer for the key's one license (cached after the first)."""
    response = APIClient().get(f"/api/v1/product/check/{key}")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def entitlement(key: str) -> dict[str, Any]:
    (only,) = checked(key)["entitlements"]
    return dict(only)


def press(client: Client, address: str, data: dict[str, Any], capture: Any) -> Any:
    with capture(execute=True):
        return client.post(address, data)


def audited(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action))


# --- suspend / resume / cancel ----------------------------------------------------------


def test_billing_suspends_with_the_button_and_the_check_says_so_at_once(
    billing, license_, django_capture_on_commit_callbacks
):
    key = license_.license_key.key
    assert entitlement(key)["status"] == "valid"  # now cached
    page = billing.get(url("suspend", license_))
    assert page.status_code == 200
    assert "Suspend this license" in page.content.decode()
    response = press(billing, url("suspend", license_), {}, django_capture_on_commit_callbacks)
    assert response.status_code == 302
    assert response["Location"] == url("change", license_)
    license_.refresh_from_db()
    assert license_.status == "suspended"
    (event,) = audited("license.suspended")
    assert (event.actor_type, event.actor, event.license_id) == ("staff", "billing", license_.pk)
    assert entitlement(key)["status"] == "suspended"


def test_billing_resumes_a_suspended_license(billing, license_, django_capture_on_commit_callbacks):
    License.objects.filter(pk=license_.pk).update(status="suspended")
    key = license_.license_key.key
    assert entitlement(key)["status"] == "suspended"
    press(billing, url("resume", license_), {}, django_capture_on_commit_callbacks)
    license_.refresh_from_db()
    assert license_.status == "valid"
    assert len(audited("license.resumed")) == 1
    assert entitlement(key)["status"] == "valid"


def test_billing_cancels_and_every_site_is_released(
    billing, license_, django_capture_on_commit_callbacks
):
    key = license_.license_key.key
    assert entitlement(key)["seats_used"] == 3
    press(billing, url("cancel", license_), {}, django_capture_on_commit_callbacks)
    license_.refresh_from_db()
    assert license_.status == "cancelled"
    assert not Activation.objects.filter(license=license_).exists()
    assert len(audited("license.cancelled")) == 1
    assert len(audited("activation.released")) == 3
    answer = entitlement(key)
    assert (answer["status"], answer["seats_used"]) == ("cancelled", 0)


@pytest.mark.parametrize("view", ["suspend", "resume", "cancel", "renew", "seats"])
def test_support_may_not_press_the_billing_buttons(support, license_, view):
    before = License.objects.values().get(pk=license_.pk)
    assert support.get(url(view, license_)).status_code == 403
    assert support.post(url(view, license_), {"max_seats": 9}).status_code == 403
    assert License.objects.values().get(pk=license_.pk) == before
    assert not AuditEvent.objects.exists()


def test_a_refused_transition_is_a_form_error_not_a_500(billing, license_):
    License.objects.filter(pk=license_.pk).update(status="cancelled")
    response = billing.post(url("suspend", license_), {})
    assert response.status_code == 200
    assert "Cannot suspend" in response.content.decode()
    assert not audited("license.suspended")


def test_an_unknown_license_is_a_404_page(billing):
    response = billing.get(reverse("admin:licensing_license_suspend", args=[987654]))
    assert response.status_code == 404


# --- renew to a chosen date ------------------------------------------------------------


def test_billing_renews_to_a_chosen_date(billing, license_, django_capture_on_commit_callbacks):
    key = license_.license_key.key
    entitlement(key)
    form = billing.get(url("renew", license_))
    suggested = form.context["form"].initial["expires_on"]
    assert suggested == timezone.localtime(license_.expires_at).date().replace(
        year=suggested.year
    )  # a year on, suggested; any date may be chosen
    press(
        billing,
        url("renew", license_),
        {"expires_on": "2031-03-15"},
        django_capture_on_commit_callbacks,
    )
    license_.refresh_from_db()
    assert timezone.localtime(license_.expires_at).strftime("%Y-%m-%d %H:%M") == "2031-03-15 23:59"
    (event,) = audited("license.renewed")
    assert (event.after or {})["expires_at"].startswith("2031-03-15")
    assert entitlement(key)["expires_at"].startswith("2031-03-15")


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("2001-01-01", "must be in the future"),
        ("yesterday", "Enter a valid date"),
        ("", "This field is required"),
        ("9999-12-31", "years from now"),
    ],
)
def test_a_bad_renew_date_is_a_form_error_and_nothing_changes(billing, license_, value, problem):
    before = license_.expires_at
    response = billing.post(url("renew", license_), {"expires_on": value})
    assert response.status_code == 200
    assert problem.lower() in response.content.decode().lower()
    license_.refresh_from_db()
    assert license_.expires_at == before
    assert not audited("license.renewed")


# --- seats -------------------------------------------------------------------------------


def test_billing_changes_seats(billing, license_, django_capture_on_commit_callbacks):
    key = license_.license_key.key
    assert entitlement(key)["max_seats"] == 3
    press(billing, url("seats", license_), {"max_seats": "10"}, django_capture_on_commit_callbacks)
    license_.refresh_from_db()
    assert license_.max_seats == 10
    (event,) = audited("license.seats_changed")
    before, after = event.before or {}, event.after or {}
    assert (before["max_seats"], after["max_seats"]) == (3, 10)
    assert entitlement(key)["max_seats"] == 10
    press(billing, url("seats", license_), {"unlimited": "on"}, django_capture_on_commit_callbacks)
    assert entitlement(key)["max_seats"] is None


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({"max_seats": "-1"}, "greater than or equal to 1"),
        ({"max_seats": "0"}, "greater than or equal to 1"),
        ({"max_seats": str(2**31)}, "less than or equal to"),
        ({"max_seats": "many"}, "Enter a whole number"),
        ({}, "Enter a number of seats, or tick unlimited"),
    ],
)
def test_bad_seats_are_a_form_error_and_nothing_changes(billing, license_, data, problem):
    response = billing.post(url("seats", license_), data)
    assert response.status_code == 200
    assert problem in response.content.decode()
    license_.refresh_from_db()
    assert license_.max_seats == 3
    assert not audited("license.seats_changed")


# --- release sites ------------------------------------------------------------------------


def test_support_releases_several_sites_at_once(
    support, license_, django_capture_on_commit_callbacks
):
    key = license_.license_key.key
    assert entitlement(key)["seats_used"] == 3
    shop, blog, old = Activation.objects.filter(license=license_).order_by("pk")
    page = support.get(url("release", license_) + f"?activation={blog.pk}")
    assert page.context["form"].initial == {"activations": [str(blog.pk)]}
    response = press(
        support,
        url("release", license_),
        {"activations": [blog.pk, old.pk]},
        django_capture_on_commit_callbacks,
    )
    assert response.status_code == 302
    assert list(Activation.objects.filter(license=license_)) == [shop]
    released = audited("activation.released")
    assert {e.target_id for e in released} == {str(blog.pk), str(old.pk)}
    assert {e.actor for e in released} == {"support"}
    assert entitlement(key)["seats_used"] == 1


def test_release_of_no_site_or_another_licenses_site_is_a_form_error(support, license_, product):
    other = LicenseFactory.create(product=product)
    stranger = Activation.objects.create(license=other, instance_identifier="x.example.com")
    for data in ({}, {"activations": [stranger.pk]}, {"activations": ["abc"]}):
        response = support.post(url("release", license_), data)
        assert response.status_code == 200
        assert response.context["form"].errors
    assert Activation.objects.count() == 4
    assert not audited("activation.released")


def test_billing_may_not_release_sites(billing, license_):
    (first, *_) = Activation.objects.filter(license=license_)
    assert billing.post(url("release", license_), {"activations": [first.pk]}).status_code == 403
    assert Activation.objects.filter(license=license_).count() == 3


def test_the_activation_page_has_a_release_button(support, license_):
    activation = Activation.objects.filter(license=license_).first()
    assert activation is not None
    page = support.get(url("change", activation)).content.decode()
    assert "Release this seat" in page
    assert f"{url('release', license_)}?activation={activation.pk}" in page


# --- correct a customer's e-mail ----------------------------------------------------------


def test_support_corrects_an_email_audited_and_the_check_shows_it(
    support, license_, django_capture_on_commit_callbacks
):
    key = license_.license_key
    assert checked(key.key)["customer_email_masked"].startswith("j")
    response = press(
        support,
        url("email", key),
        {"customer_email": " Mary@Example.COM "},
        django_capture_on_commit_callbacks,
    )
    assert response.status_code == 302
    key.refresh_from_db()
    assert key.customer_email == "mary@example.com"
    (event,) = audited("license_key.email_changed")
    assert (event.before, event.after) == (
        {"customer_email": "jane@example.com"},
        {"customer_email": "mary@example.com"},
    )
    assert (event.actor_type, event.actor, event.target_type) == ("staff", "support", "license_key")
    assert checked(key.key)["customer_email_masked"].startswith("m")


@pytest.mark.parametrize(
    ("email", "problem"),
    [
        ("not-an-email", "Enter a valid email address"),
        ("taken@example.com", "Another license key of this brand has this e-mail"),
        ("", "This field is required"),
    ],
)
def test_a_bad_email_is_a_form_error_and_nothing_changes(support, license_, email, problem):
    LicenseKeyFactory.create(brand=license_.product.brand, customer_email="taken@example.com")
    key = license_.license_key
    response = support.post(url("email", key), {"customer_email": email})
    assert response.status_code == 200
    assert problem in response.content.decode()
    key.refresh_from_db()
    assert key.customer_email == "jane@example.com"
    assert not audited("license_key.email_changed")


def test_another_brands_key_with_that_email_is_no_conflict(support, license_, other_brand):
    LicenseKeyFactory.create(brand=other_brand, customer_email="taken@example.com")
    key = license_.license_key
    support.post(url("email", key), {"customer_email": "taken@example.com"})
    key.refresh_from_db()
    assert key.customer_email == "taken@example.com"


def test_billing_may_not_correct_emails(billing, license_):
    key = license_.license_key
    assert billing.post(url("email", key), {"customer_email": "x@example.com"}).status_code == 403
    key.refresh_from_db()
    assert key.customer_email == "jane@example.com"


# --- issue a license ------------------------------------------------------------------------


def issue_form(client: Client) -> dict[str, Any]:
    page = client.get(reverse("admin:licensing_license_issue"))
    assert page.status_code == 200
    return {
        "token": str(
            page.context["form"].initial.get("token") or page.context["form"]["token"].value()
        )
    }


def test_billing_issues_a_license_through_provisioning_once_per_form(
    billing, product, django_capture_on_commit_callbacks
):
    data = {
        **issue_form(billing),
        "product": product.pk,
        "customer_email": "new@example.com",
        "expires_on": "2031-01-31",
        "max_seats": "5",
    }
    first = press(
        billing, reverse("admin:licensing_license_issue"), data, django_capture_on_commit_callbacks
    )
    assert first.status_code == 302
    issued = License.objects.get(license_key__customer_email="new@example.com")
    assert first["Location"] == url("change", issued)
    assert (issued.product, issued.max_seats, issued.status) == (product, 5, "valid")
    (event,) = audited("license.provisioned")
    assert (event.actor_type, event.actor) == ("staff", "billing")
    again = billing.post(reverse("admin:licensing_license_issue"), data)  # sent twice
    assert again["Location"] == first["Location"]
    assert License.objects.count() == 1
    assert any("sent already" in str(m) for m in get_messages(again.wsgi_request))
    assert entitlement(issued.license_key.key)["max_seats"] == 5


def test_issue_follows_the_key_choice_rules(billing, license_, product, other_product):
    key = license_.license_key
    second = another_product_of(product)
    data = {**issue_form(billing), "product": second.pk, "customer_email": "JANE@example.com"}
    billing.post(reverse("admin:licensing_license_issue"), data)
    assert License.objects.get(product=second).license_key == key  # the customer's key
    conflict = {
        **issue_form(billing),
        "product": other_product.pk,
        "customer_email": "jane@example.com",
        "license_key": key.key,
    }
    response = billing.post(reverse("admin:licensing_license_issue"), conflict)
    assert response.status_code == 200
    assert "belongs to another" in response.content.decode()
    entitled = {**issue_form(billing), "product": product.pk, "customer_email": "jane@example.com"}
    response = billing.post(reverse("admin:licensing_license_issue"), entitled)
    assert response.status_code == 200
    assert "already" in response.content.decode().lower()
    assert License.objects.count() == 2


def another_product_of(product: Any) -> Any:

    return ProductFactory.create(brand=product.brand, slug="content-ai")


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"customer_email": "nope"}, "Enter a valid email address"),
        ({"expires_on": "2001-01-01"}, "must be in the future"),
        ({"max_seats": "0"}, "greater than or equal to 1"),
        ({"license_key": "RNKM-NOT-A-KEY"}, "No license key matches"),
    ],
)
def test_bad_issue_input_is_a_form_error_and_nothing_is_issued(billing, product, fields, problem):
    data = {
        **issue_form(billing),
        "product": product.pk,
        "customer_email": "a@example.com",
        **fields,
    }
    response = billing.post(reverse("admin:licensing_license_issue"), data)
    assert response.status_code == 200
    assert problem in response.content.decode()
    assert not License.objects.exists()
    assert not LicenseKey.objects.exists()


def test_support_may_not_issue(support, product):
    assert support.get(reverse("admin:licensing_license_issue")).status_code == 403
    page = support.get(reverse("admin:licensing_license_changelist")).content.decode()
    assert "Issue a license" not in page


# --- which buttons show -------------------------------------------------------------------


def buttons(client: Client, license_: License) -> set[str]:
    page = client.get(url("change", license_))
    assert page.status_code == 200
    return {b.label for b in page.context["console_buttons"]}


def test_each_group_sees_only_its_buttons(support, billing, viewer, license_):
    assert buttons(support, license_) == {"Release seats", "Correct e-mail"}
    assert buttons(billing, license_) == {"Renew", "Change seats", "Suspend", "Cancel license"}
    assert buttons(viewer, license_) == set()
    both = client_of("support", "billing")
    License.objects.filter(pk=license_.pk).update(status="suspended")
    assert "Resume" in buttons(both, license_)
    assert "Suspend" not in buttons(both, license_)


def test_bulk_actions_follow_the_same_permissions(support, billing, license_):
    assert support.get(reverse("admin:licensing_license_changelist")).context["action_form"] is None
    actions = billing.get(reverse("admin:licensing_license_changelist")).context["action_form"]
    assert {name for name, _ in actions.fields["action"].choices} >= {"suspend", "cancel", "renew"}


def test_buttons_call_the_services(billing, license_, monkeypatch):
    calls: list[str] = []

    def spy(name: str) -> Any:
        def service(**kwargs: Any) -> License:
            calls.append(name)
            return kwargs["license_"]

        return service

    for name in ("license_suspend", "license_set_seats", "license_renew"):
        monkeypatch.setattr(licensing_admin, name, spy(name))
    billing.post(url("suspend", license_), {})
    billing.post(url("seats", license_), {"max_seats": "4"})
    billing.post(url("renew", license_), {"expires_on": "2031-01-01"})
    assert calls == ["license_suspend", "license_set_seats", "license_renew"]
    license_.refresh_from_db()
    assert (license_.status, license_.max_seats) == ("valid", 3)  # nothing written but them


def test_forms_are_csrf_protected(license_, staff_user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff_user)
    assert client.post(url("suspend", license_), {}).status_code == 403
    license_.refresh_from_db()
    assert license_.status == "valid"


def test_expired_license_shows_expired_not_valid(billing, product):
    lic = LicenseFactory.create(product=product, expires_at=timezone.now() - timedelta(days=1))
    page = billing.get(url("change", lic)).content.decode()
    assert 'class="ls-badge ls-expired">expired<' in page

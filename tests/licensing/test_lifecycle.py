"""US2: every allowed and every refused lifecycle transition."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from licensing.models import License
from tests.factories import ActivationFactory
from tests.licensing.conftest import future, patch

pytestmark = pytest.mark.django_db


def _set(license_: License, **fields) -> License:
    License.objects.filter(pk=license_.pk).update(**fields)
    license_.refresh_from_db()
    return license_


def _expired(license_: License) -> License:
    return _set(license_, expires_at=timezone.now() - timedelta(days=1))


def test_renew_sets_a_new_expiry(brand_client, license_):
    response = patch(brand_client, license_.pk, action="renew", expires_at=future(400))
    assert response.status_code == 200
    assert response.json()["status"] == "valid"
    license_.refresh_from_db()
    assert license_.expires_at > timezone.now() + timedelta(days=399)


def test_renew_makes_an_expired_license_valid(brand_client, license_):
    _expired(license_)
    response = patch(brand_client, license_.pk, action="renew", expires_at=future())
    assert response.json()["status"] == "valid"


def test_renew_keeps_a_suspended_license_suspended(brand_client, license_):
    _set(license_, status="suspended")
    response = patch(brand_client, license_.pk, action="renew", expires_at=future())
    assert response.status_code == 200
    assert response.json()["status"] == "suspended"


def test_renew_of_a_cancelled_license_is_refused(brand_client, license_):
    _set(license_, status="cancelled")
    response = patch(brand_client, license_.pk, action="renew", expires_at=future())
    assert response.status_code == 409
    assert response.json()["error"] == "invalid_transition"
    assert response.json()["details"]["current_status"] == "cancelled"


def test_renew_needs_expires_at(brand_client, license_):
    response = patch(brand_client, license_.pk, action="renew")
    assert response.status_code == 400
    assert "expires_at" in response.json()["details"]


@pytest.mark.parametrize(
    "value",
    [
        "2001-01-01T00:00:00Z",
        "2099-01-01T00:00:00",
        "tomorrow",
        12345,
        None,
        "9999-12-31T23:59:59-14:00",
    ],
)
def test_renew_refuses_past_naive_or_malformed_dates(brand_client, license_, value):
    response = patch(brand_client, license_.pk, action="renew", expires_at=value)
    assert response.status_code == 400
    assert response.json()["error"] == "validation_error"
    assert "expires_at" in response.json()["details"]


@pytest.mark.parametrize("stored", [{}, {"expires_at": timezone.now() - timedelta(days=1)}])
def test_suspend_from_valid_or_expired(brand_client, license_, stored):
    _set(license_, **stored)
    response = patch(brand_client, license_.pk, action="suspend")
    assert response.status_code == 200
    assert response.json()["status"] == "suspended"


@pytest.mark.parametrize("status", ["suspended", "cancelled"])
def test_suspend_is_refused_when_suspended_or_cancelled(brand_client, license_, status):
    _set(license_, status=status)
    response = patch(brand_client, license_.pk, action="suspend")
    assert response.status_code == 409
    assert response.json()["error"] == "invalid_transition"
    assert response.json()["details"]["current_status"] == status


def test_resume_makes_a_suspended_license_valid(brand_client, license_):
    _set(license_, status="suspended")
    response = patch(brand_client, license_.pk, action="resume")
    assert response.json()["status"] == "valid"


def test_resume_of_a_license_past_its_date_gives_expired(brand_client, license_):
    _set(license_, status="suspended", expires_at=timezone.now() - timedelta(days=1))
    response = patch(brand_client, license_.pk, action="resume")
    assert response.status_code == 200
    assert response.json()["status"] == "expired"


@pytest.mark.parametrize(
    ("stored", "current"),
    [
        ({}, "valid"),
        ({"expires_at": timezone.now() - timedelta(days=1)}, "expired"),
        ({"status": "cancelled"}, "cancelled"),
    ],
)
def test_resume_is_refused_unless_suspended(brand_client, license_, stored, current):
    _set(license_, **stored)
    response = patch(brand_client, license_.pk, action="resume")
    assert response.status_code == 409
    assert response.json()["details"]["current_status"] == current


@pytest.mark.parametrize(
    "stored", [{}, {"status": "suspended"}, {"expires_at": timezone.now() - timedelta(days=1)}]
)
def test_cancel_from_any_non_cancelled_status(brand_client, license_, stored):
    _set(license_, **stored)
    response = patch(brand_client, license_.pk, action="cancel")
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"


def test_cancel_is_terminal(brand_client, license_):
    patch(brand_client, license_.pk, action="cancel")
    response = patch(brand_client, license_.pk, action="cancel")
    assert response.status_code == 409
    assert response.json()["error"] == "invalid_transition"


def test_cancel_releases_activations_with_audit(brand_client, license_):
    ActivationFactory.create_batch(2, license=license_)
    response = patch(brand_client, license_.pk, action="cancel")
    assert response.json()["seats_used"] == 0
    assert response.json()["activations"] == []
    assert AuditEvent.objects.filter(action="activation.released").count() == 2


def test_set_seats_changes_the_limit(brand_client, license_):
    response = patch(brand_client, license_.pk, action="set_seats", max_seats=10)
    assert response.json()["max_seats"] == 10
    assert response.json()["seats_remaining"] == 10


def test_set_seats_to_null_means_unlimited(brand_client, license_):
    response = patch(brand_client, license_.pk, action="set_seats", max_seats=None)
    assert response.json()["max_seats"] is None
    assert response.json()["seats_remaining"] is None


def test_set_seats_below_seats_in_use_is_allowed(brand_client, license_):
    ActivationFactory.create_batch(3, license=license_)
    response = patch(brand_client, license_.pk, action="set_seats", max_seats=1)
    assert response.status_code == 200
    assert response.json()["seats_used"] == 3
    assert response.json()["seats_remaining"] == 0


def test_set_seats_needs_max_seats(brand_client, license_):
    response = patch(brand_client, license_.pk, action="set_seats")
    assert response.status_code == 400
    assert "max_seats" in response.json()["details"]


@pytest.mark.parametrize("value", [0, -1, "3", 2.5, True, 10**12])
def test_set_seats_refuses_bad_values(brand_client, license_, value):
    response = patch(brand_client, license_.pk, action="set_seats", max_seats=value)
    assert response.status_code == 400
    assert "max_seats" in response.json()["details"]


def test_set_seats_on_a_cancelled_license_is_refused(brand_client, license_):
    _set(license_, status="cancelled")
    response = patch(brand_client, license_.pk, action="set_seats", max_seats=5)
    assert response.status_code == 409


@pytest.mark.parametrize("action", ["delete", "", "SUSPEND", None, 7, ["suspend"]])
def test_unknown_action_is_a_validation_error(brand_client, license_, action):
    response = patch(brand_client, license_.pk, action=action)
    assert response.status_code == 400
    assert response.json()["error"] == "validation_error"
    assert "action" in response.json()["details"]


@pytest.mark.parametrize(
    ("action", "extra", "audit_action"),
    [
        ("renew", {"expires_at": future()}, "license.renewed"),
        ("suspend", {}, "license.suspended"),
        ("cancel", {}, "license.cancelled"),
        ("set_seats", {"max_seats": 9}, "license.seats_changed"),
    ],
)
def test_each_change_writes_its_audit_event_with_before_and_after(
    brand_client, license_, action, extra, audit_action
):
    patch(brand_client, license_.pk, action=action, **extra)
    event = AuditEvent.objects.get(action=audit_action)
    assert event.license_id == license_.pk
    assert event.before != event.after
    assert event.actor == "rankmath"


def test_resume_writes_its_audit_event(brand_client, license_):
    _set(license_, status="suspended")
    patch(brand_client, license_.pk, action="resume")
    event = AuditEvent.objects.get(action="license.resumed")
    assert event.after is not None
    assert event.before == {**event.after, "status": "suspended"}
    assert event.after["status"] == "valid"


def test_refused_transition_changes_nothing(brand_client, license_):
    _set(license_, status="cancelled")
    before = AuditEvent.objects.count()
    patch(brand_client, license_.pk, action="suspend")
    license_.refresh_from_db()
    assert license_.status == "cancelled"
    assert AuditEvent.objects.count() == before

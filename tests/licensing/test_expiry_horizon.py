"""An expiry is bounded (licensing.expiry) and no date step on it can overflow."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from license_service.errors import ValidationFailed
from licensing.admin import one_year_after, renewal_expiry
from licensing.expiry import EXPIRY_HORIZON_YEARS, latest_expiry, years_after
from licensing.models import License
from tests.factories import LicenseFactory
from tests.licensing.conftest import patch, provision

pytestmark = pytest.mark.django_db

FAR = f"Must be at most {EXPIRY_HORIZON_YEARS} years from now."
LAST_DAY = datetime(9999, 12, 31, tzinfo=UTC)


def in_years(years: float) -> datetime:
    return timezone.now() + timedelta(days=365.25 * years)


@pytest.mark.parametrize(
    "expires_at",
    ["9999-12-31T00:00:00Z", "9999-12-31T23:59:59-05:00", in_years(101).isoformat()],
    ids=["last-day", "last-day-west-of-utc", "101-years"],
)
def test_provisioning_past_the_horizon_is_a_validation_error_naming_expires_at(
    brand_client, product, expires_at
):
    response = provision(brand_client, expires_at=expires_at)
    assert response.status_code == 400
    assert response.json()["error"] == "validation_error"
    assert "expires_at" in response.json()["details"]
    assert not License.objects.exists()


def test_provisioning_within_the_horizon_is_accepted(brand_client, product):
    response = provision(brand_client, expires_at=in_years(EXPIRY_HORIZON_YEARS - 1).isoformat())
    assert response.status_code == 201


def test_horizon_is_named_in_the_answer(brand_client, product):
    response = provision(brand_client, expires_at="9999-12-31T00:00:00Z")
    assert response.json()["details"] == {"expires_at": [FAR]}


def test_renewing_past_the_horizon_is_a_validation_error_naming_expires_at(brand_client, license_):
    response = patch(brand_client, license_.pk, action="renew", expires_at="9999-12-31T00:00:00Z")
    assert response.status_code == 400
    assert response.json()["details"] == {"expires_at": [FAR]}
    license_.refresh_from_db()
    assert license_.expires_at is None
    assert not AuditEvent.objects.filter(action="license.renewed").exists()


# --- the admin's "renew for one year" ---------------------------------------------------


def renew_in_admin(client: Any, *licenses: License) -> list[str]:
    response = client.post(
        reverse("admin:licensing_license_changelist"),
        {"action": "renew", "index": 0, "_selected_action": [lic.pk for lic in licenses]},
        follow=True,
    )
    assert response.status_code == 200
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_admin_renew_of_a_license_expiring_on_the_last_day_is_refused_not_a_crash(
    admin_client, product
):
    lic = LicenseFactory.create(product=product, expires_at=LAST_DAY)
    notes = renew_in_admin(admin_client, lic)
    assert (
        f"License {lic.pk}: The expiry must be at most {EXPIRY_HORIZON_YEARS} years from now."
        in notes
    )
    lic.refresh_from_db()
    assert lic.expires_at == LAST_DAY
    assert not AuditEvent.objects.filter(action="license.renewed").exists()


def test_admin_renew_past_the_horizon_is_refused(admin_client, product):
    near_horizon = in_years(EXPIRY_HORIZON_YEARS - 0.5)
    lic = LicenseFactory.create(product=product, expires_at=near_horizon)
    notes = renew_in_admin(admin_client, lic)
    assert any("must be at most" in note for note in notes)
    lic.refresh_from_db()
    assert lic.expires_at == near_horizon


def test_admin_renew_reports_each_refusal_and_renews_the_rest(admin_client, product):
    stuck = LicenseFactory.create(product=product, expires_at=LAST_DAY)
    fine = LicenseFactory.create(product=product, expires_at=in_years(1))
    notes = renew_in_admin(admin_client, stuck, fine)
    assert any(note.startswith(f"License {stuck.pk}: ") for note in notes)
    assert "Renewed 1 license(s)." in notes
    fine.refresh_from_db()
    assert fine.expires_at is not None
    assert fine.expires_at > in_years(1.9)


# --- the date steps ------------------------------------------------------------------------


def test_a_year_after_the_last_year_is_an_overflow_error():
    with pytest.raises(OverflowError):
        one_year_after(LAST_DAY)


def test_renewal_expiry_past_the_last_year_is_a_validation_error():
    with pytest.raises(ValidationFailed) as refused:
        renewal_expiry(LAST_DAY, timezone.now())
    assert refused.value.details == {"expires_at": [FAR]}


def test_years_after_keeps_the_date_and_moves_29_february_to_28():
    assert years_after(datetime(2030, 5, 6, 7, 8, tzinfo=UTC), 100) == datetime(
        2130, 5, 6, 7, 8, tzinfo=UTC
    )
    assert years_after(datetime(2028, 2, 29, tzinfo=UTC), 1) == datetime(2029, 2, 28, tzinfo=UTC)


def test_latest_expiry_never_overflows():
    assert latest_expiry(datetime(9990, 1, 1, tzinfo=UTC)) == datetime.max.replace(tzinfo=UTC)
    assert latest_expiry(datetime(2030, 1, 1, tzinfo=UTC)) == datetime(2130, 1, 1, tzinfo=UTC)

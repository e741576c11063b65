"""A brand sees and changes only its own licenses: another brand's are 404, never 403."""

from __future__ import annotations

import pytest

from licensing.models import License
from tests.licensing.conftest import LICENSES_URL, future, patch

pytestmark = pytest.mark.django_db


def test_other_brand_gets_404_on_get(brand_client, other_brand_license):
    response = brand_client.get(f"{LICENSES_URL}/{other_brand_license.pk}")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


@pytest.mark.parametrize(
    "body",
    [
        {"action": "suspend"},
        {"action": "cancel"},
        {"action": "renew", "expires_at": future()},
        {"action": "set_seats", "max_seats": 9},
    ],
)
def test_other_brand_gets_404_on_every_lifecycle_action(brand_client, other_brand_license, body):
    response = patch(brand_client, other_brand_license.pk, **body)
    assert response.status_code == 404
    other_brand_license.refresh_from_db()
    assert other_brand_license.status == License.Status.VALID
    assert other_brand_license.max_seats == 3


def test_other_brand_gets_404_on_events(brand_client, other_brand_license):
    response = brand_client.get(f"{LICENSES_URL}/{other_brand_license.pk}/events")
    assert response.status_code == 404


def test_other_brands_licenses_are_not_listed(brand_client, other_brand_license):
    assert brand_client.get(LICENSES_URL).json()["results"] == []
    email = other_brand_license.license_key.customer_email
    assert brand_client.get(f"{LICENSES_URL}?customer_email={email}").json()["results"] == []

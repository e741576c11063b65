"""Rate limits of the brand API and the token endpoints."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def _limit(settings, **rates):
    settings.LICENSE_SERVICE = {**settings.LICENSE_SERVICE, **rates}


def test_brand_past_its_rate_is_throttled(brand_client, settings):
    _limit(settings, THROTTLE_BRAND="3/m")
    statuses = [brand_client.get("/api/v1/brand/licenses").status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 429, 429]
    response = brand_client.get("/api/v1/brand/licenses")
    assert response.json()["error"] == "throttled"
    assert int(response["Retry-After"]) >= 1


def test_one_brands_rate_does_not_throttle_another(brand_client, other_brand_client, settings):
    _limit(settings, THROTTLE_BRAND="2/m")
    for _ in range(3):
        brand_client.get("/api/v1/brand/licenses")
    assert other_brand_client.get("/api/v1/brand/licenses").status_code == 200


def test_login_attempts_are_limited_per_ip(api_client, staff_user, settings):
    _limit(settings, THROTTLE_AUTH_IP="3/m")
    body = {"username": "ops", "password": "wrong"}
    statuses = [
        api_client.post("/api/v1/auth/token/", body, format="json").status_code for _ in range(4)
    ]
    assert statuses == [401, 401, 401, 429]
    right = {"username": "ops", "password": "staff-password"}
    assert api_client.post("/api/v1/auth/token/", right, format="json").status_code == 429


def test_brand_token_minting_is_limited_per_ip(api_client, settings):
    _limit(settings, THROTTLE_AUTH_IP="2/m")
    body = {"api_key": "lsk_guess"}
    statuses = [
        api_client.post("/api/v1/auth/brand-token/", body, format="json").status_code
        for _ in range(3)
    ]
    assert statuses == [401, 401, 429]

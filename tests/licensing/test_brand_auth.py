"""Brand authentication: API key header, brand JWT, scopes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from audit.services import Actor
from brands.authentication import BrandAccessToken
from brands.models import BrandApiKey
from brands.services import api_key_revoke
from tests.conftest import make_brand_client
from tests.licensing.conftest import LICENSES_URL, provision

pytestmark = pytest.mark.django_db


def test_no_credential_is_401(api_client, product):
    response = api_client.get(LICENSES_URL)
    assert response.status_code == 401
    assert response.json()["error"] == "not_authenticated"
    assert response["WWW-Authenticate"]


def test_wrong_api_key_is_401(api_client, product):
    api_client.credentials(HTTP_X_BRAND_API_KEY="lsk_nope")
    assert api_client.get(LICENSES_URL).json()["error"] == "not_authenticated"


def test_revoked_api_key_is_401(brand, product):
    client = make_brand_client(brand)
    api_key = BrandApiKey.objects.get(brand=brand)
    api_key_revoke(api_key=api_key, actor=Actor.system())
    assert client.get(LICENSES_URL).status_code == 401


def test_inactive_brand_cannot_authenticate(brand_client, brand):
    brand.is_active = False
    brand.save()
    assert brand_client.get(LICENSES_URL).status_code == 401


def test_api_key_use_is_recorded(brand_client, brand):
    brand_client.get(LICENSES_URL)
    assert BrandApiKey.objects.get(brand=brand).last_used_at is not None


def test_read_only_key_cannot_provision(brand, product):
    client = make_brand_client(brand, scopes=["licenses:read"])
    assert client.get(LICENSES_URL).status_code == 200
    response = provision(client)
    assert response.status_code == 403
    assert response.json()["error"] == "permission_denied"


def test_write_only_key_cannot_read(brand, product):
    client = make_brand_client(brand, scopes=["licenses:write"])
    assert provision(client).status_code == 201
    assert client.get(LICENSES_URL).status_code == 403


def _jwt_client(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def test_brand_jwt_authenticates_with_the_keys_scopes(brand, product):
    make_brand_client(brand, scopes=["licenses:read"])
    token = BrandAccessToken.for_api_key(BrandApiKey.objects.get(brand=brand))
    client = _jwt_client(str(token))
    assert client.get(LICENSES_URL).status_code == 200
    assert provision(client).status_code == 403


def test_expired_brand_jwt_is_401(brand, product):
    make_brand_client(brand)
    token = BrandAccessToken.for_api_key(BrandApiKey.objects.get(brand=brand))
    token.set_exp(from_time=timezone.now() - timedelta(hours=1), lifetime=timedelta(minutes=1))
    assert _jwt_client(str(token)).get(LICENSES_URL).status_code == 401


def test_forged_brand_jwt_is_401(brand, product):
    make_brand_client(brand)
    token = str(BrandAccessToken.for_api_key(BrandApiKey.objects.get(brand=brand)))
    header, payload, signature = token.split(".")
    forged = f"{header}.{payload}.{signature[::-1]}"
    assert _jwt_client(forged).get(LICENSES_URL).status_code == 401


def test_staff_jwt_is_not_a_brand_credential(staff_client, product):
    assert staff_client.get(LICENSES_URL).status_code == 401


def test_garbage_bearer_is_401(api_client, product):
    api_client.credentials(HTTP_AUTHORIZATION="Bearer a b c")
    assert api_client.get(LICENSES_URL).status_code == 401

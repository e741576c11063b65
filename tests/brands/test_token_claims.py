"""Correctly signed JWTs with claims the service cannot use are 401, never a 500 (issue 12,
item 3). Only the holder of SECRET_KEY can sign such a token; the development default is
public, and a crash is a crash."""

from __future__ import annotations

import time
import uuid
from typing import Any

import jwt
import pytest
from django.conf import settings
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.utils import get_md5_hash_password

from tests.brands.envelope import assert_error

pytestmark = pytest.mark.django_db

HUGE = 2**62  # passes PyJWT, overflows datetime in simplejwt

ODD_TIME_CLAIMS = [
    {"exp": HUGE},
    {"exp": -HUGE},
    {"exp": 10**15},
    {"exp": 1e300},
    {"exp": "2099-01-01"},
    {"exp": None},
    {"iat": HUGE},
    {"iat": "yesterday"},
    {"nbf": HUGE},
    {"nbf": "now"},
]
ODD_ID_CLAIMS = [
    {"jti": 12},
    {"jti": None},
    {"jti": ["a"]},
    {"jti": "j" * 300},
]
ODD_USER_IDS = [{"user_id": v} for v in ("abc", "1.5", 1.5, [1], {"id": 1}, True, None)]


def signed(claims: dict[str, Any]) -> str:
    return jwt.encode(claims, settings.SECRET_KEY, algorithm="HS256")


def staff_claims(user: Any, kind: str = "access", **odd: Any) -> dict[str, Any]:
    now = int(time.time())
    return {
        "token_type": kind,
        "exp": now + 600,
        "iat": now,
        "jti": uuid.uuid4().hex,
        "user_id": str(user.pk),
        jwt_settings.REVOKE_TOKEN_CLAIM: get_md5_hash_password(user.password),
        **odd,
    }


def brand_claims(**odd: Any) -> dict[str, Any]:
    now = int(time.time())
    return {
        "token_type": "brand_access",
        "exp": now + 600,
        "iat": now,
        "jti": uuid.uuid4().hex,
        "brand": "rankmath",
        "scopes": ["licenses:read", "licenses:write"],
        "kid": 1,
        **odd,
    }


def test_a_well_formed_forged_staff_token_would_be_accepted(api_client, staff_user):
    """The helpers sign what the service signs: the odd claims below are the only change."""
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {signed(staff_claims(staff_user))}")
    assert api_client.get("/api/v1/brands/").status_code == 200


@pytest.mark.parametrize(
    "odd", [*ODD_TIME_CLAIMS, *ODD_ID_CLAIMS, *ODD_USER_IDS, {"user_id": 2**70}]
)
def test_staff_access_token_with_an_odd_claim_is_401(api_client, staff_user, odd):
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {signed(staff_claims(staff_user, **odd))}")
    assert_error(api_client.get("/api/v1/brands/"), 401, "not_authenticated")


@pytest.mark.parametrize("odd", ODD_TIME_CLAIMS + ODD_ID_CLAIMS + ODD_USER_IDS)
@pytest.mark.parametrize("url", ["/api/v1/auth/token/refresh/", "/api/v1/auth/token/revoke/"])
def test_staff_refresh_token_with_an_odd_claim_is_401(api_client, staff_user, odd, url):
    token = signed(staff_claims(staff_user, "refresh", **odd))
    response = api_client.post(url, {"refresh": token}, format="json")
    assert_error(response, 401, "not_authenticated")


def test_refresh_token_of_a_deleted_user_is_401(api_client, staff_user):
    token = signed(staff_claims(staff_user, "refresh"))
    staff_user.delete()
    response = api_client.post("/api/v1/auth/token/refresh/", {"refresh": token}, format="json")
    assert_error(response, 401, "not_authenticated")


def test_a_well_formed_forged_brand_token_would_be_accepted(api_client, brand):
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {signed(brand_claims())}")
    assert api_client.get("/api/v1/brand/licenses").status_code == 200


@pytest.mark.parametrize("odd", ODD_TIME_CLAIMS + ODD_ID_CLAIMS)
def test_brand_token_with_an_odd_claim_is_401(api_client, brand, odd):
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {signed(brand_claims(**odd))}")
    assert_error(api_client.get("/api/v1/brand/licenses"), 401, "not_authenticated")


@pytest.mark.parametrize("kid", ["1", None, [1], True, 2**70])
def test_brand_token_with_an_odd_key_id_still_names_no_key(api_client, brand, kid):
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {signed(brand_claims(kid=kid))}")
    assert api_client.get("/api/v1/brand/licenses").status_code == 200

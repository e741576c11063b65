"""Token endpoints: the staff JWT pair, and brand JWTs minted from a brand API key."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import jwt
import pytest
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import RefreshToken

from audit.services import Actor
from brands.authentication import BrandAccessToken, BrandJWTAuthentication
from brands.services import api_key_create, api_key_revoke, brand_update
from tests.brands.envelope import assert_error

pytestmark = pytest.mark.django_db

TOKEN_URL = "/api/v1/auth/token/"
REFRESH_URL = "/api/v1/auth/token/refresh/"
BRAND_TOKEN_URL = "/api/v1/auth/brand-token/"


def authenticate_brand_jwt(token: str) -> Any:
    """Run the brand API's JWT authentication on a request carrying this token."""
    django_request = APIRequestFactory().get("/", HTTP_AUTHORIZATION=f"Bearer {token}")
    return BrandJWTAuthentication().authenticate(Request(django_request))


def decode_brand_token(raw: Any) -> BrandAccessToken:
    # simplejwt annotates the constructor's argument as a Token; it takes the encoded string.
    return BrandAccessToken(raw)


# --- staff JWT ---------------------------------------------------------------------------


def test_staff_obtains_a_token_pair_that_opens_the_staff_api(api_client, staff_user):
    response = api_client.post(
        TOKEN_URL, {"username": "ops", "password": "staff-password"}, format="json"
    )
    assert response.status_code == 200
    assert set(response.json()) == {"access", "refresh"}
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {response.json()['access']}")
    assert api_client.get("/api/v1/brands/").status_code == 200


def test_token_url_without_trailing_slash_works(api_client, staff_user):
    response = api_client.post(
        "/api/v1/auth/token", {"username": "ops", "password": "staff-password"}, format="json"
    )
    assert response.status_code == 200


@pytest.mark.parametrize(
    "credentials",
    [
        {"username": "ops", "password": "wrong"},
        {"username": "nobody", "password": "staff-password"},
        {"username": "ops", "password": "staff-password "},
    ],
)
def test_bad_credentials_are_401_in_the_envelope(api_client, staff_user, credentials):
    body = assert_error(
        api_client.post(TOKEN_URL, credentials, format="json"), 401, "not_authenticated"
    )
    assert body["message"] == "No active account found with the given credentials"


def test_deactivated_user_gets_no_token(api_client, staff_user):
    staff_user.is_active = False
    staff_user.save()
    response = api_client.post(
        TOKEN_URL, {"username": "ops", "password": "staff-password"}, format="json"
    )
    assert_error(response, 401, "not_authenticated")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"username": "ops"}, "password"),
        ({"password": "x"}, "username"),
        ({"username": 7, "password": "x"}, "username"),
        ({"username": "ops", "password": ["x"]}, "password"),
        ({"username": "u" * 151, "password": "x"}, "username"),
    ],
)
def test_bad_token_request_is_a_validation_error(api_client, body, field):
    response = api_client.post(TOKEN_URL, body, format="json")
    assert field in assert_error(response, 400, "validation_error")["details"]


def test_token_request_must_be_json(api_client):
    response = api_client.post(TOKEN_URL, "username=ops&password=x", content_type="text/plain")
    assert_error(response, 415, "unsupported_media_type")


def test_refresh_token_gives_a_new_access_token(api_client, staff_user):
    refresh = str(RefreshToken.for_user(staff_user))
    response = api_client.post(REFRESH_URL, {"refresh": refresh}, format="json")
    assert response.status_code == 200
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {response.json()['access']}")
    assert api_client.get("/api/v1/brands/").status_code == 200


def test_refresh_refuses_an_access_token(api_client, staff_user):
    access = str(RefreshToken.for_user(staff_user).access_token)
    body = assert_error(
        api_client.post(REFRESH_URL, {"refresh": access}, format="json"), 401, "not_authenticated"
    )
    assert body["message"]
    assert "{" not in body["message"]  # one sentence, not a rendered dict


def test_refresh_refuses_garbage_and_brand_tokens(api_client, api_key):
    assert_error(
        api_client.post(REFRESH_URL, {"refresh": "x.y.z"}, format="json"), 401, "not_authenticated"
    )
    brand_token = str(BrandAccessToken.for_api_key(api_key[0]))
    response = api_client.post(REFRESH_URL, {"refresh": brand_token}, format="json")
    assert_error(response, 401, "not_authenticated")


def test_refresh_needs_a_string(api_client):
    response = api_client.post(REFRESH_URL, {"refresh": 12}, format="json")
    assert "refresh" in assert_error(response, 400, "validation_error")["details"]


def test_expired_staff_token_is_401(api_client, staff_user):
    token = RefreshToken.for_user(staff_user).access_token
    token.set_exp(lifetime=-timedelta(seconds=1))
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert_error(api_client.get("/api/v1/brands/"), 401, "not_authenticated")


# --- brand JWT ---------------------------------------------------------------------------


def test_brand_mints_a_jwt_with_its_api_key(api_client, api_key):
    response = api_client.post(BRAND_TOKEN_URL, {"api_key": api_key[1]}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access", "token_type", "expires_in"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 15 * 60


def test_brand_jwt_carries_brand_scopes_and_expiry(api_client, brand):
    key, plain = api_key_create(
        brand=brand, name="eco", scopes=["licenses:read", "ecosystem:read"], actor=Actor.system()
    )
    access = api_client.post(BRAND_TOKEN_URL, {"api_key": plain}, format="json").json()["access"]
    claims = decode_brand_token(access).payload
    assert claims["token_type"] == "brand_access"
    assert claims["brand"] == "rankmath"
    assert sorted(claims["scopes"]) == ["ecosystem:read", "licenses:read"]
    assert claims["kid"] == key.id
    assert claims["exp"] - claims["iat"] == 15 * 60
    assert "user_id" not in claims


def test_brand_jwt_lifetime_is_configurable(api_client, api_key, settings):
    settings.LICENSE_SERVICE = {
        **settings.LICENSE_SERVICE,
        "BRAND_JWT_LIFETIME": timedelta(minutes=2),
    }
    body = api_client.post(BRAND_TOKEN_URL, {"api_key": api_key[1]}, format="json").json()
    assert body["expires_in"] == 120
    claims = decode_brand_token(body["access"]).payload
    assert claims["exp"] - claims["iat"] == 120


def test_brand_jwt_authenticates_as_the_brand(api_client, api_key):
    access = api_client.post(BRAND_TOKEN_URL, {"api_key": api_key[1]}, format="json").json()[
        "access"
    ]
    principal, _ = authenticate_brand_jwt(access)
    assert principal.brand.slug == "rankmath"
    assert principal.scopes == frozenset({"licenses:read", "licenses:write"})
    assert principal.api_key_id == api_key[0].id


def test_brand_jwt_opens_the_brand_api(api_client, api_key):
    access = api_client.post(BRAND_TOKEN_URL, {"api_key": api_key[1]}, format="json").json()[
        "access"
    ]
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    assert api_client.get("/api/v1/brand/licenses").status_code == 200


def test_expired_brand_jwt_is_refused(api_key):
    token = BrandAccessToken.for_api_key(api_key[0])
    token.set_exp(lifetime=-timedelta(seconds=1))
    with pytest.raises(exceptions.AuthenticationFailed):
        authenticate_brand_jwt(str(token))


def test_forged_brand_jwt_is_refused(api_key):
    claims = dict(BrandAccessToken.for_api_key(api_key[0]).payload)
    forged = jwt.encode(claims, "not-the-secret-key-of-this-service-0123456789", algorithm="HS256")
    with pytest.raises(exceptions.AuthenticationFailed):
        authenticate_brand_jwt(forged)


def test_staff_jwt_is_not_a_brand_jwt(staff_user):
    with pytest.raises(TokenError):
        decode_brand_token(str(RefreshToken.for_user(staff_user).access_token))


def test_revoked_key_stops_minting_at_once(api_client, api_key):
    api_key_revoke(api_key=api_key[0], actor=Actor.system())
    response = api_client.post(BRAND_TOKEN_URL, {"api_key": api_key[1]}, format="json")
    body = assert_error(response, 401, "not_authenticated")
    assert "access" not in body


def test_token_minted_before_revocation_lives_out_its_lifetime(api_client, api_key):
    access = api_client.post(BRAND_TOKEN_URL, {"api_key": api_key[1]}, format="json").json()[
        "access"
    ]
    api_key_revoke(api_key=api_key[0], actor=Actor.system())
    principal, _ = authenticate_brand_jwt(access)
    assert principal.brand.slug == "rankmath"


def test_deactivated_brand_cannot_mint(api_client, brand, api_key):
    brand_update(brand=brand, is_active=False, actor=Actor.system())
    response = api_client.post(BRAND_TOKEN_URL, {"api_key": api_key[1]}, format="json")
    assert_error(response, 401, "not_authenticated")


def test_minting_records_the_key_as_used(api_client, api_key):
    assert api_key[0].last_used_at is None
    api_client.post(BRAND_TOKEN_URL, {"api_key": api_key[1]}, format="json")
    api_key[0].refresh_from_db()
    assert api_key[0].last_used_at is not None
    assert timezone.now() - api_key[0].last_used_at < timedelta(minutes=1)


@pytest.mark.parametrize("raw", ["lsk_unknown", "lsk_é", "LSK_UNKNOWN", "lsk_\u202e"])
def test_unknown_api_key_is_401(api_client, brand, raw):
    response = api_client.post(BRAND_TOKEN_URL, {"api_key": raw}, format="json")
    assert_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"api_key": 12},
        {"api_key": None},
        {"api_key": ""},
        {"api_key": " "},
        {"api_key": "x" * 129},
    ],
)
def test_bad_brand_token_request_is_a_validation_error(api_client, body):
    response = api_client.post(BRAND_TOKEN_URL, body, format="json")
    assert "api_key" in assert_error(response, 400, "validation_error")["details"]


def test_brand_token_endpoint_ignores_other_credentials(api_client, api_key, staff_user):
    api_client.credentials(HTTP_AUTHORIZATION="Bearer garbage")
    response = api_client.post(BRAND_TOKEN_URL, {"api_key": api_key[1]}, format="json")
    assert response.status_code == 200

"""Signed license tokens (SPEC §12) in the answers of activate and of a check naming an
instance: they verify with PyJWT against the brand's JWKS and nothing else, carry exactly
the documented claims, are reused while they have most of their lifetime left, and die
with the check answer."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from django.test import override_settings
from django.utils import timezone
from jwt import PyJWK
from prometheus_client import REGISTRY

from audit.services import Actor
from brands.models import BrandSigningKey
from brands.services import signing_key_rotate
from licensing.models import License
from licensing.services import license_renew, license_set_seats, license_suspend
from tests.activations.conftest import activate, cache_broken, deactivate
from tests.factories import LicenseFactory, LicenseKeyFactory, ProductFactory

pytestmark = pytest.mark.django_db

CLAIMS = {
    "iss",
    "sub",
    "brand",
    "product",
    "key_prefix",
    "instance",
    "status",
    "expires_at",
    "max_seats",
    "iat",
    "nbf",
    "exp",
}


def jwks(client: Any, brand_slug: str) -> dict[str, Any]:
    response = client.get(f"/api/v1/product/jwks/{brand_slug}")
    assert response.status_code == 200
    return response.json()


def verify(token: str, keys: dict[str, Any], **options: Any) -> dict[str, Any]:
    """PyJWT, as a client would: the key the header's kid names in the JWKS."""
    kid = jwt.get_unverified_header(token)["kid"]
    matching = [k for k in keys["keys"] if k["kid"] == kid]
    if not matching:
        raise jwt.InvalidKeyError(f"no key {kid} in the JWKS")
    key = PyJWK.from_dict(matching[0])
    return jwt.decode(token, key=key, algorithms=["EdDSA"], **options)


def token_errors() -> float:
    return REGISTRY.get_sample_value("license_token_total", {"result": "error"}) or 0.0


def check(client: Any, key: str, instance: str = "example.com", **params: Any) -> dict[str, Any]:
    response = client.get(
        f"/api/v1/product/check/{key}", {"instance_identifier": instance, **params}
    )
    assert response.status_code == 200, response.content
    return response.json()


def test_activation_token_verifies_against_the_brands_jwks(client, key, license_):
    token = activate(client, key, "https://www.example.com/").json()["license_token"]
    header = jwt.get_unverified_header(token)
    assert (header["alg"], header["typ"]) == ("EdDSA", "license+jwt")
    claims = verify(token, jwks(client, license_.product.brand.slug))
    assert set(claims) == CLAIMS
    assert claims["sub"] == str(license_.id)
    assert claims["brand"] == license_.product.brand.slug
    assert claims["product"] == "rankmath-pro"
    assert claims["instance"] == "example.com"
    assert (claims["status"], claims["expires_at"], claims["max_seats"]) == ("valid", None, 3)
    assert claims["iss"] == "http://testserver"
    assert claims["nbf"] == claims["iat"]
    assert claims["exp"] - claims["iat"] == 7 * 24 * 3600


def test_token_carries_no_full_key_and_no_email(client, key, license_):
    token = activate(client, key).json()["license_token"]
    payload = base64.urlsafe_b64decode(token.split(".")[1] + "==").decode()
    assert key not in payload
    assert "user@example.com" not in payload
    claims = json.loads(payload)
    assert key.startswith(claims["key_prefix"])
    assert len(claims["key_prefix"]) < len(key)


@override_settings(PUBLIC_URL="https://licenses.example.com")
def test_issuer_is_the_public_url_when_set(client, key, license_):
    token = activate(client, key).json()["license_token"]
    assert verify(token, jwks(client, license_.product.brand.slug))["iss"] == (
        "https://licenses.example.com"
    )


def test_another_brands_jwks_does_not_verify_the_token(client, key, other_product):
    other_key = LicenseKeyFactory.create(brand=other_product.brand)
    LicenseFactory.create(product=other_product, license_key=other_key)
    token = activate(client, key).json()["license_token"]
    other = check(client, other_key.key, product_slug=other_product.slug)
    assert other["license_token"] is None  # not activated there: no token
    other_jwks = jwks(client, other_product.brand.slug)
    assert other_jwks["keys"]
    with pytest.raises(jwt.InvalidKeyError):
        verify(token, other_jwks)
    # Even forced onto the other brand's key, the signature does not match.
    forged_header = {**other_jwks["keys"][0]}
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, key=PyJWK.from_dict(forged_header), algorithms=["EdDSA"])


def test_a_tampered_claim_or_signature_fails(client, key, license_):
    token = activate(client, key).json()["license_token"]
    keys = jwks(client, license_.product.brand.slug)
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["max_seats"] = 1000
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(jwt.InvalidSignatureError):
        verify(f"{header}.{forged}.{signature}", keys)
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    with pytest.raises(jwt.InvalidSignatureError):
        verify(f"{header}.{payload}.{flipped}", keys)


def test_check_with_an_instance_carries_the_token_and_the_plain_check_does_not(
    client, key, license_
):
    activate(client, key)
    answer = check(client, key)
    assert answer["license_token"] == answer["entitlements"][0]["license_token"]
    assert verify(answer["license_token"], jwks(client, license_.product.brand.slug))
    plain = client.get(f"/api/v1/product/check/{key}").json()
    assert "license_token" not in plain
    assert "license_token" not in plain["entitlements"][0]
    post = client.post(
        "/api/v1/product/check",
        {"license_key": key, "instance_identifier": "example.com"},
        format="json",
    ).json()
    assert post["license_token"] == answer["license_token"]


def test_an_instance_without_a_seat_gets_no_token(client, key):
    answer = check(client, key, "never-activated.example.com")
    assert answer["entitlements"][0]["instance_active"] is False
    assert answer["license_token"] is None
    assert answer["entitlements"][0]["license_token"] is None


def test_several_entitlements_carry_a_token_each_and_none_at_the_top(client, key, license_):
    second = ProductFactory.create(brand=license_.product.brand, slug="second")
    LicenseFactory.create(product=second, license_key=license_.license_key)
    activate(client, key)
    client.post(
        "/api/v1/product/activate",
        {"license_key": key, "product_slug": "second", "instance_identifier": "example.com"},
        format="json",
    )
    answer = check(client, key)
    assert answer["license_token"] is None
    keys = jwks(client, license_.product.brand.slug)
    products = {verify(e["license_token"], keys)["product"] for e in answer["entitlements"]}
    assert products == {"rankmath-pro", "second"}
    only = check(client, key, product_slug="second")
    assert verify(only["license_token"], keys)["product"] == "second"


def test_exp_is_capped_by_the_licenses_expiry(client, key, license_):
    expires = (timezone.now() + timedelta(hours=2)).replace(microsecond=0)
    License.objects.filter(pk=license_.pk).update(expires_at=expires)
    token = activate(client, key).json()["license_token"]
    claims = verify(token, jwks(client, license_.product.brand.slug))
    assert claims["exp"] == int(expires.timestamp())
    assert claims["expires_at"] == expires.astimezone(UTC).isoformat().replace("+00:00", "Z")


def test_exp_follows_the_products_token_lifetime(client, key, license_):
    license_.product.token_lifetime_seconds = 3600
    license_.product.save()
    claims = verify(
        activate(client, key).json()["license_token"], jwks(client, license_.product.brand.slug)
    )
    assert claims["exp"] - claims["iat"] == 3600


def test_an_expired_license_gets_no_token(client, key, license_):
    activate(client, key)
    License.objects.filter(pk=license_.pk).update(expires_at=timezone.now() - timedelta(days=1))
    answer = check(client, key)
    assert answer["entitlements"][0]["status"] == "expired"
    assert answer["license_token"] is None


def test_a_check_hit_reuses_the_token_while_it_has_most_of_its_lifetime(
    client, key, license_, django_assert_num_queries
):
    first = activate(client, key).json()["license_token"]
    check(client, key)  # the check's own miss
    for _ in range(3):
        with django_assert_num_queries(0):
            assert check(client, key)["license_token"] == first
    claims = jwt.decode(first, options={"verify_signature": False})
    past_half = claims["iat"] + (claims["exp"] - claims["iat"]) / 2 + 1
    with override_now(past_half):
        renewed = check(client, key)["license_token"]
    assert renewed != first
    assert jwt.decode(renewed, options={"verify_signature": False})["iat"] == int(past_half)


class override_now:
    """time.time() as the tokens module reads it, moved to ``moment``."""

    def __init__(self, moment: float):
        self.moment = moment

    def __enter__(self) -> None:
        self.patch = pytest.MonkeyPatch()
        self.patch.setattr(time, "time", lambda: self.moment)

    def __exit__(self, *exc: object) -> None:
        self.patch.undo()


def test_a_suspended_licenses_next_check_is_signed_suspended(
    client, key, license_, django_capture_on_commit_callbacks
):
    activate(client, key)
    keys = jwks(client, license_.product.brand.slug)
    assert verify(check(client, key)["license_token"], keys)["status"] == "valid"
    with django_capture_on_commit_callbacks(execute=True):
        license_suspend(license_=license_, actor=Actor.system())
    answer = check(client, key)
    assert answer["entitlements"][0]["status"] == "suspended"
    assert verify(answer["license_token"], keys)["status"] == "suspended"


@pytest.mark.parametrize("change", ["seats", "renew"])
def test_a_change_of_seats_or_expiry_signs_anew(
    client, key, license_, change, django_capture_on_commit_callbacks
):
    before = activate(client, key).json()["license_token"]
    keys = jwks(client, license_.product.brand.slug)
    with django_capture_on_commit_callbacks(execute=True):
        if change == "seats":
            license_set_seats(license_=license_, max_seats=7, actor=Actor.system())
        else:
            later = timezone.now() + timedelta(days=30)
            license_renew(license_=license_, expires_at=later, actor=Actor.system())
    after = check(client, key)["license_token"]
    assert after != before
    claims = verify(after, keys)
    assert claims["max_seats"] == 7 if change == "seats" else claims["expires_at"] is not None


def test_a_released_instance_gets_no_token_at_its_next_check(
    client, key, django_capture_on_commit_callbacks
):
    activate(client, key)
    assert check(client, key)["license_token"] is not None
    with django_capture_on_commit_callbacks(execute=True):
        assert deactivate(client, key).status_code == 200
    assert check(client, key)["license_token"] is None


def test_after_rotation_old_and_new_tokens_verify_until_the_old_expire(
    client, key, license_, django_capture_on_commit_callbacks
):
    brand = license_.product.brand
    old = activate(client, key).json()["license_token"]
    with django_capture_on_commit_callbacks(execute=True):
        signing_key_rotate(brand=brand, actor=Actor.staff("ops"))
    new = check(client, key)["license_token"]  # the rotation re-signs the cached token
    assert jwt.get_unverified_header(new)["kid"] != jwt.get_unverified_header(old)["kid"]
    keys = jwks(client, brand.slug)
    assert len(keys["keys"]) == 2
    verify(old, keys)
    verify(new, keys)
    # Once every token of the old key has expired, it leaves the JWKS.
    old_exp = jwt.decode(old, options={"verify_signature": False})["exp"]
    retired = BrandSigningKey.objects.get(brand=brand, retired_at__isnull=False)
    assert retired.signed_until is not None
    assert retired.signed_until.timestamp() >= old_exp
    BrandSigningKey.objects.filter(pk=retired.pk).update(
        signed_until=timezone.now() - timedelta(seconds=1)
    )
    after = jwks(client, brand.slug)
    assert [k["kid"] for k in after["keys"]] == [jwt.get_unverified_header(new)["kid"]]
    with pytest.raises(jwt.InvalidKeyError):
        verify(old, after)
    verify(new, after)


def test_a_corrupt_private_key_omits_the_token_and_the_check_still_answers(
    client, key, license_, caplog
):
    activate(client, key)  # signs with the factory's key, caches the token
    BrandSigningKey.objects.filter(brand=license_.product.brand).update(
        private_key_encrypted="v1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    )
    errors = token_errors()
    answer = check(client, key, "second.example.com", product_slug="rankmath-pro")
    assert answer["success"] is True
    assert answer["license_token"] is None  # second.example.com holds no seat anyway
    response = activate(client, key, "second.example.com")
    assert response.status_code == 200
    assert response.json()["license_token"] is None
    assert response.json()["seats_used"] == 2
    assert token_errors() == errors + 1
    assert "license token not signed" in caplog.text


def test_a_cache_that_is_down_still_gets_a_token(client, key, license_):
    activate(client, key)
    with cache_broken():
        answer = check(client, key)
    assert verify(answer["license_token"], jwks(client, license_.product.brand.slug))


def test_token_exp_is_a_whole_second_never_past_expiry(client, key, license_):
    expires = timezone.now() + timedelta(minutes=5, microseconds=700_000)
    License.objects.filter(pk=license_.pk).update(expires_at=expires)
    claims = jwt.decode(
        activate(client, key).json()["license_token"], options={"verify_signature": False}
    )
    assert claims["exp"] <= expires.timestamp()
    assert datetime.fromtimestamp(claims["exp"], tz=UTC) <= expires

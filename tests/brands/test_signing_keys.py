"""The brands' token-signing keys (SPEC §12): encrypted at rest, rotated by staff, published
as JWKS with caching headers; and a product's token lifetime."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.test import override_settings
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from audit.models import AuditEvent
from audit.services import Actor
from brands.models import BrandSigningKey
from brands.services import signing_key_current, signing_key_rotate
from brands.signing import SigningKeyUnreadable, decrypt_private_key
from tests.factories import BrandFactory, StaffUserFactory, signing_key_create

pytestmark = pytest.mark.django_db


def test_the_stored_private_key_is_encrypted_and_decrypts_to_an_ed25519_key(brand):
    key = BrandSigningKey.objects.get(brand=brand)
    raw = decrypt_private_key(key.private_key_encrypted, brand_id=brand.pk, kid=key.kid)
    assert len(raw) == 32
    stored = key.private_key_encrypted
    assert stored.startswith("v1.")
    assert raw not in base64.urlsafe_b64decode(stored[3:] + "==")
    assert base64.urlsafe_b64encode(raw).rstrip(b"=").decode() not in stored


def test_a_wrong_secret_fails_loudly(brand):
    key = BrandSigningKey.objects.get(brand=brand)
    with (
        override_settings(SIGNING_KEYS_SECRET="another-secret-of-thirty-two-chars!!"),
        pytest.raises(SigningKeyUnreadable, match="SIGNING_KEYS_SECRET"),
    ):
        decrypt_private_key(key.private_key_encrypted, brand_id=brand.pk, kid=key.kid)


def test_a_ciphertext_moved_to_another_brand_does_not_decrypt(brand, other_brand):
    key = BrandSigningKey.objects.get(brand=brand)
    with pytest.raises(SigningKeyUnreadable):
        decrypt_private_key(key.private_key_encrypted, brand_id=other_brand.pk, kid=key.kid)


def test_a_brand_without_a_key_gets_one_on_first_use_and_an_audit_row():
    brand = BrandFactory.create(signing_key=False)
    assert not BrandSigningKey.objects.filter(brand=brand).exists()
    key = signing_key_current(brand_id=brand.pk)
    assert signing_key_current(brand_id=brand.pk) == key
    assert AuditEvent.objects.get(action="brand.signing_key_created").brand_id == brand.pk


# --- rotation ------------------------------------------------------------------------------


def test_staff_rotate_a_brands_key(staff_client, brand):
    old = BrandSigningKey.objects.get(brand=brand)
    response = staff_client.post(f"/api/v1/brands/{brand.slug}/signing-keys/rotate")
    assert response.status_code == 201
    body = response.json()
    assert body["kid"] != old.kid
    assert (body["retired_at"], body["published"]) == (None, True)
    old.refresh_from_db()
    assert old.retired_at is not None
    event = AuditEvent.objects.get(action="brand.signing_key_rotated")
    assert (event.actor, event.before, event.after) == (
        "ops",
        {"kid": old.kid},
        {"kid": body["kid"]},
    )
    listed = staff_client.get(f"/api/v1/brands/{brand.slug}/signing-keys").json()
    assert [k["kid"] for k in listed] == [body["kid"], old.kid]
    # The old key signed nothing: it is not published.
    assert [k["published"] for k in listed] == [True, False]


def test_rotating_twice_in_a_row_leaves_one_current_key(staff_client, brand):
    for _ in range(2):
        assert staff_client.post(f"/api/v1/brands/{brand.slug}/signing-keys/rotate").status_code
    assert BrandSigningKey.objects.filter(brand=brand, retired_at__isnull=True).count() == 1
    assert BrandSigningKey.objects.filter(brand=brand).count() == 3
    assert len(APIClient().get(f"/api/v1/product/jwks/{brand.slug}").json()["keys"]) == 1


def test_rotating_an_unknown_brand_is_404(staff_client):
    response = staff_client.post("/api/v1/brands/nope/signing-keys/rotate")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_rotation_needs_the_add_permission(brand):
    user = StaffUserFactory.create(username="viewer", is_superuser=False)
    user.user_permissions.add(Permission.objects.get(codename="view_brandsigningkey"))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(user).access_token}")
    assert client.get(f"/api/v1/brands/{brand.slug}/signing-keys").status_code == 200
    response = client.post(f"/api/v1/brands/{brand.slug}/signing-keys/rotate")
    assert response.status_code == 403
    assert response.json()["error"] == "permission_denied"


def test_a_brand_jwt_cannot_rotate(brand_client, brand):
    response = brand_client.post(f"/api/v1/brands/{brand.slug}/signing-keys/rotate")
    assert response.status_code == 401


# --- JWKS ----------------------------------------------------------------------------------


def test_brand_jwks_lists_its_published_keys_with_caching_headers(brand, other_brand):
    response = APIClient().get(f"/api/v1/product/jwks/{brand.slug}")
    assert response.status_code == 200
    key = BrandSigningKey.objects.get(brand=brand)
    assert response.json() == {
        "keys": [
            {
                "kty": "OKP",
                "crv": "Ed25519",
                "x": key.public_key,
                "kid": key.kid,
                "alg": "EdDSA",
                "use": "sig",
            }
        ]
    }
    assert response["Cache-Control"] == "public, max-age=300"
    etag = response["ETag"]
    assert etag.startswith('"')  # strong: no W/
    again = APIClient().get(f"/api/v1/product/jwks/{brand.slug}", HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304
    assert again["ETag"] == etag
    assert again.content == b""
    weak = APIClient().get(f"/api/v1/product/jwks/{brand.slug}", HTTP_IF_NONE_MATCH=f"W/{etag}")
    assert weak.status_code == 304


def test_the_etag_changes_with_a_rotation(brand):
    etag = APIClient().get(f"/api/v1/product/jwks/{brand.slug}")["ETag"]
    signing_key_rotate(brand=brand, actor=Actor.staff("ops"))
    response = APIClient().get(f"/api/v1/product/jwks/{brand.slug}", HTTP_IF_NONE_MATCH=etag)
    assert response.status_code == 200
    assert response["ETag"] != etag


def test_well_known_jwks_lists_every_brands_keys(brand, other_brand):
    response = APIClient().get("/.well-known/jwks.json")
    assert response.status_code == 200
    kids = {k["kid"] for k in response.json()["keys"]}
    assert kids == set(BrandSigningKey.objects.values_list("kid", flat=True))
    assert len(kids) == 2
    assert "ETag" in response


def test_unknown_brand_jwks_is_a_json_404():
    response = APIClient().get("/api/v1/product/jwks/no-such-brand")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_a_brand_with_no_key_yet_has_an_empty_jwks():
    brand = BrandFactory.create(signing_key=False)
    assert APIClient().get(f"/api/v1/product/jwks/{brand.slug}").json() == {"keys": []}


def test_a_retired_key_is_published_until_its_last_token_expires(brand):
    later = timezone.now() + timedelta(hours=1)
    retired = signing_key_create(brand, retired_at=timezone.now(), signed_until=later)
    gone = signing_key_create(
        brand, retired_at=timezone.now(), signed_until=timezone.now() - timedelta(seconds=1)
    )
    kids = {k["kid"] for k in APIClient().get(f"/api/v1/product/jwks/{brand.slug}").json()["keys"]}
    assert retired.kid in kids
    assert gone.kid not in kids


# --- the product's token lifetime ----------------------------------------------------------


@pytest.mark.parametrize("value", [59, 90 * 24 * 3600 + 1, "3600", None, True])
def test_a_token_lifetime_out_of_bounds_is_a_validation_error(staff_client, product, value):
    response = staff_client.patch(
        f"/api/v1/products/{product.id}", {"token_lifetime_seconds": value}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["error"] == "validation_error"
    assert "token_lifetime_seconds" in response.json()["details"]


def test_staff_set_a_products_token_lifetime(staff_client, product):
    response = staff_client.patch(
        f"/api/v1/products/{product.id}", {"token_lifetime_seconds": 3600}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["token_lifetime_seconds"] == 3600
    product.refresh_from_db()
    assert product.token_lifetime_seconds == 3600
    event = AuditEvent.objects.get(action="product.updated")
    assert (event.after or {}).get("token_lifetime_seconds") == 3600


# --- admin ---------------------------------------------------------------------------------


def test_admin_action_rotates_the_key_through_the_service(admin_client, brand):
    old = BrandSigningKey.objects.get(brand=brand)
    response = admin_client.post(
        "/admin/brands/brand/",
        {"action": "rotate_signing_key", "_selected_action": [brand.pk]},
        follow=True,
    )
    assert response.status_code == 200
    current = BrandSigningKey.objects.get(brand=brand, retired_at__isnull=True)
    assert current.kid != old.kid
    assert AuditEvent.objects.get(action="brand.signing_key_rotated").after == {"kid": current.kid}


def test_admin_product_page_refuses_a_token_lifetime_out_of_bounds(admin_client, product):
    page = admin_client.get(f"/admin/brands/product/{product.pk}/change/")
    assert b"token_lifetime_seconds" in page.content
    response = admin_client.post(
        f"/admin/brands/product/{product.pk}/change/",
        {
            "name": product.name,
            "default_max_seats": 3,
            "non_production_limit": 10,
            "token_lifetime_seconds": 10,
        },
    )
    assert response.status_code == 200  # the form again, with its error
    assert b"Must be between 60 and 7776000 seconds." in response.content
    product.refresh_from_db()
    assert product.token_lifetime_seconds == 7 * 24 * 3600

"""Brand authentication: ``X-Brand-API-Key`` or a short-lived brand JWT.

Both resolve the tenant once and put a ``BrandPrincipal`` on ``request.user``; every view
and selector below takes the brand from there (never from the URL or the body).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from rest_framework import authentication, exceptions
from rest_framework.request import Request
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken, Token

from brands.models import MAX_API_KEY_LENGTH, Brand, BrandApiKey, hash_api_key
from brands.services import api_key_mark_used

API_KEY_HEADER = "HTTP_X_BRAND_API_KEY"


@dataclass(frozen=True)
class BrandPrincipal:
    """The authenticated caller of the brand API."""

    brand: Brand
    scopes: frozenset[str]
    api_key_id: int | None = None
    is_authenticated: bool = field(default=True, init=False)
    is_staff: bool = field(default=False, init=False)

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes


def api_key_lookup(raw: str) -> BrandApiKey | None:
    """The live key matching this plain text, or None (unknown, revoked, inactive brand)."""
    if not raw or len(raw) > MAX_API_KEY_LENGTH or not raw.isascii():
        return None
    try:
        api_key = BrandApiKey.objects.select_related("brand").get(key_hash=hash_api_key(raw))
    except BrandApiKey.DoesNotExist:
        return None
    if api_key.revoked_at is not None or not api_key.brand.is_active:
        return None
    return api_key


class BrandApiKeyAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[BrandPrincipal, BrandApiKey] | None:
        raw = request.META.get(API_KEY_HEADER)
        if raw is None:
            return None
        api_key = api_key_lookup(raw.strip())
        if api_key is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked API key.")
        api_key_mark_used(api_key=api_key)
        principal = BrandPrincipal(
            brand=api_key.brand, scopes=frozenset(api_key.scopes), api_key_id=api_key.pk
        )
        return principal, api_key

    def authenticate_header(self, request: Request) -> str:
        return 'X-Brand-API-Key realm="brand"'


# OutstandingToken.jti's column: a longer id could not be blacklisted.
_MAX_JTI_LENGTH = OutstandingToken._meta.get_field("jti").max_length or 255


class SaneClaimsToken(Token):
    """A token whose claims this service can use, or a ``TokenError`` (401).

    A correctly signed token can still carry claims the JWT library accepts but cannot
    use: ``exp`` = 2**62 passes PyJWT and then overflows ``datetime`` in simplejwt (an
    ``OverflowError``/``OSError``/``ValueError``, a 500 before this), a ``jti`` that is no
    string or longer than the blacklist's column. Any of these is an invalid token."""

    def verify(self) -> None:
        jti = self.payload.get(jwt_settings.JTI_CLAIM)
        if not isinstance(jti, str) or not 0 < len(jti) <= _MAX_JTI_LENGTH:
            raise TokenError("Token has no usable id")
        try:
            super().verify()
        except (OverflowError, OSError, ValueError) as exc:
            raise TokenError("Token has a claim out of range") from exc


class StaffTokenMixin(SaneClaimsToken):
    """Staff tokens name their user by primary key, as simplejwt's ``for_user`` writes it;
    anything else (a float, a list, "abc") would reach the user query and raise there."""

    def verify(self) -> None:
        super().verify()
        user_id = self.payload.get(jwt_settings.USER_ID_CLAIM)
        if isinstance(user_id, bool) or not isinstance(user_id, (str, int)):
            raise TokenError("Token has no usable user id")
        try:
            get_user_model()._meta.pk.to_python(user_id)
        except ValidationError as exc:
            raise TokenError("Token has no usable user id") from exc


class StaffAccessToken(StaffTokenMixin, AccessToken):
    """The staff API's access token (``SIMPLE_JWT["AUTH_TOKEN_CLASSES"]``)."""


class StaffRefreshToken(StaffTokenMixin, RefreshToken):  # type: ignore[misc]  # stubs' for_user
    """The staff refresh token: recorded as outstanding when issued, so a rotation, a
    revocation, a password change or a deactivation can blacklist it."""

    access_token_class = StaffAccessToken


class BrandAccessToken(SaneClaimsToken):
    """A brand JWT: carries the brand slug and the scopes of the key that minted it."""

    token_type = "brand_access"  # noqa: S105 (a claim value, not a secret)
    lifetime = timedelta(minutes=15)

    @classmethod
    def for_api_key(cls, api_key: BrandApiKey) -> BrandAccessToken:
        token = cls()
        token.set_exp(lifetime=brand_jwt_lifetime())
        token["brand"] = api_key.brand.slug
        token["scopes"] = list(api_key.scopes)
        token["kid"] = api_key.pk
        return token


def brand_jwt_lifetime() -> timedelta:
    lifetime: timedelta = settings.LICENSE_SERVICE["BRAND_JWT_LIFETIME"]
    return lifetime


class BrandJWTAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[BrandPrincipal, Any] | None:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        parts = header.split()
        if not parts or parts[0] != self.keyword:
            return None
        credentials = parts[1:]
        if len(credentials) != 1:
            raise exceptions.AuthenticationFailed("Malformed Authorization header.")
        try:
            token = BrandAccessToken(credentials[0])
        except TokenError as exc:
            raise exceptions.AuthenticationFailed("Invalid or expired token.") from exc
        slug = token.get("brand")
        scopes = token.get("scopes")
        if not isinstance(slug, str) or not isinstance(scopes, list):
            raise exceptions.AuthenticationFailed("Invalid token.")
        brand = Brand.objects.filter(slug=slug, is_active=True).first()
        if brand is None:
            raise exceptions.AuthenticationFailed("Invalid token.")
        kid = token.get("kid")
        principal = BrandPrincipal(
            brand=brand,
            scopes=frozenset(str(s) for s in scopes),
            api_key_id=kid if isinstance(kid, int) and not isinstance(kid, bool) else None,
        )
        return principal, token

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="brand"'


BRAND_AUTHENTICATION = [BrandApiKeyAuthentication, BrandJWTAuthentication]

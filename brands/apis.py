"""Staff API (SPEC §4) and the token endpoints.

Staff endpoints take a staff JWT (``POST /api/v1/auth/token/``); a brand JWT or a non-staff
user's JWT does not open them. Every write goes through ``brands.services`` with the staff
user as the audit actor.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.conf import settings
from django.http import HttpResponse
from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.views import (
    TokenBlacklistView,
    TokenObtainPairView,
    TokenRefreshView,
)

from audit.services import Actor
from brands import selectors, services
from brands.authentication import (
    BrandAccessToken,
    api_key_lookup,
    brand_jwt_lifetime,
)
from brands.limits import DEFAULT_NON_PRODUCTION_LIMIT, DEFAULT_TOKEN_LIFETIME_SECONDS
from brands.models import Brand, BrandApiKey, BrandSigningKey, Product
from brands.permissions import (
    IsStaff,
    LoginRateLimited,
    RevokeNeedsChangePermission,
    StaffModelPermissions,
)
from brands.serializers import (
    ApiKeyCreatedOutputSerializer,
    ApiKeyCreateInputSerializer,
    ApiKeyOutputSerializer,
    BrandCreateInputSerializer,
    BrandOutputSerializer,
    BrandTokenInputSerializer,
    BrandTokenOutputSerializer,
    BrandUpdateInputSerializer,
    JwksOutputSerializer,
    ProductCreateInputSerializer,
    ProductFilterSerializer,
    ProductOutputSerializer,
    ProductUpdateInputSerializer,
    SigningKeyOutputSerializer,
    StaffTokenObtainInputSerializer,
    StaffTokenRefreshInputSerializer,
    StaffTokenRevokeInputSerializer,
    TokenPairOutputSerializer,
    TokenRefreshOutputSerializer,
)
from brands.signing import public_jwk
from license_service.api.pagination import DefaultCursorPagination, paginated_response
from license_service.api.schema import error_responses
from license_service.errors import NotFound, ValidationFailed

STAFF_TAG = "staff"
AUTH_TAG = "auth"


class StaffJWTAuthentication(JWTAuthentication):
    """simplejwt's access tokens of staff users. A brand JWT has another ``token_type`` and
    is refused here as an invalid token."""


class StaffJWTScheme(SimpleJWTScheme):
    target_class = "brands.apis.StaffJWTAuthentication"
    name = "staffJWT"


def staff_actor(request: Request) -> Actor:
    """The staff user of a staff API request, as an audit actor."""
    return Actor.staff(request.user.get_username())


class StaffApi(APIView):
    """A staff endpoint: a staff user's JWT, and the Django model permission its method
    needs on ``queryset``'s model, as the admin checks it (``StaffModelPermissions``)."""

    authentication_classes = [StaffJWTAuthentication]
    permission_classes = [IsStaff, StaffModelPermissions]


STAFF_ERRORS = ("not_authenticated", "permission_denied")
WRITE_ERRORS = ("validation_error", "unsupported_media_type")

SLUG_PARAMETER = OpenApiParameter(
    "slug",
    str,
    OpenApiParameter.PATH,
    description="Brand slug: lower-case letters, digits, dashes.",
)
API_KEY_ID_PARAMETER = OpenApiParameter("api_key_id", int, OpenApiParameter.PATH)
PRODUCT_ID_PARAMETER = OpenApiParameter("product_id", int, OpenApiParameter.PATH)


# --- tokens --------------------------------------------------------------------------------


@extend_schema(
    tags=[AUTH_TAG],
    summary="Obtain a staff JWT pair",
    description="Password guessing is locked out per username and per client IP: past "
    "`LOGIN_FAILURE_LIMIT` failures, every attempt (the right password included) is 429 "
    "`throttled` until `Retry-After` seconds have passed without one.",
    request=StaffTokenObtainInputSerializer,
    responses={
        200: TokenPairOutputSerializer,
        **error_responses(*WRITE_ERRORS, "not_authenticated", "throttled"),
    },
)
class StaffTokenObtainApi(TokenObtainPairView):
    serializer_class = StaffTokenObtainInputSerializer
    permission_classes = [LoginRateLimited]  # type: ignore[assignment]  # stubs say ()


@extend_schema(
    tags=[AUTH_TAG],
    summary="Refresh a staff access token",
    description="Rotates the refresh token: the answer carries the next one, and the one "
    "sent stops working.",
    request=StaffTokenRefreshInputSerializer,
    responses={
        200: TokenRefreshOutputSerializer,
        **error_responses(*WRITE_ERRORS, "not_authenticated"),
    },
)
class StaffTokenRefreshApi(TokenRefreshView):
    serializer_class = StaffTokenRefreshInputSerializer
    permission_classes = [LoginRateLimited]  # type: ignore[assignment]  # stubs say ()


@extend_schema(
    tags=[AUTH_TAG],
    summary="Revoke a staff refresh token",
    description="The refresh token stops working at once (access tokens minted from it live "
    "out their short lifetime). A password change or a deactivation revokes every refresh "
    "token of the user.",
    request=StaffTokenRevokeInputSerializer,
    responses={204: None, **error_responses(*WRITE_ERRORS, "not_authenticated")},
)
class StaffTokenRevokeApi(TokenBlacklistView):
    serializer_class = StaffTokenRevokeInputSerializer
    permission_classes = [LoginRateLimited]  # type: ignore[assignment]  # stubs say ()

    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        super().post(request, *args, **kwargs)  # raises on an invalid or revoked token
        return Response(status=status.HTTP_204_NO_CONTENT)


class BrandTokenApi(APIView):
    """The API key in the body is the credential: no other authentication."""

    authentication_classes: list[Any] = []
    permission_classes = [LoginRateLimited]

    @extend_schema(
        tags=[AUTH_TAG],
        summary="Mint a short-lived brand JWT from a brand API key",
        request=BrandTokenInputSerializer,
        responses={
            200: BrandTokenOutputSerializer,
            **error_responses(*WRITE_ERRORS, "not_authenticated"),
        },
    )
    def post(self, request: Request) -> Response:
        serializer = BrandTokenInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        api_key = api_key_lookup(serializer.validated_data["api_key"])
        if api_key is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked API key.")
        services.api_key_mark_used(api_key=api_key)
        token = BrandAccessToken.for_api_key(api_key)
        data = {
            "access": str(token),
            "token_type": "Bearer",
            "expires_in": int(brand_jwt_lifetime().total_seconds()),
        }
        return Response(BrandTokenOutputSerializer(data).data)

    def get_authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="brand-token"'


# --- brands --------------------------------------------------------------------------------


def _brand_or_404(slug: str) -> Brand:
    brand = selectors.brand_get(slug=slug)
    if brand is None:
        raise NotFound("No brand with this slug.")
    return brand


class BrandListCreateApi(StaffApi):
    queryset = Brand.objects.all()
    pagination_class = DefaultCursorPagination

    @extend_schema(
        tags=[STAFF_TAG],
        summary="List brands",
        responses={200: BrandOutputSerializer(many=True), **error_responses(*STAFF_ERRORS)},
    )
    def get(self, request: Request) -> Response:
        return paginated_response(
            queryset=selectors.brand_list(),
            serializer_class=BrandOutputSerializer,
            request=request,
            view=self,
        )

    @extend_schema(
        tags=[STAFF_TAG],
        summary="Create a brand",
        request=BrandCreateInputSerializer,
        responses={
            201: BrandOutputSerializer,
            **error_responses(*WRITE_ERRORS, *STAFF_ERRORS),
        },
    )
    def post(self, request: Request) -> Response:
        serializer = BrandCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        brand = services.brand_create(**serializer.validated_data, actor=staff_actor(request))
        return Response(BrandOutputSerializer(brand).data, status=status.HTTP_201_CREATED)


class BrandDetailApi(StaffApi):
    queryset = Brand.objects.all()

    @extend_schema(
        tags=[STAFF_TAG],
        summary="Get a brand",
        parameters=[SLUG_PARAMETER],
        responses={200: BrandOutputSerializer, **error_responses(*STAFF_ERRORS, "not_found")},
    )
    def get(self, request: Request, slug: str) -> Response:
        return Response(BrandOutputSerializer(_brand_or_404(slug)).data)

    @extend_schema(
        tags=[STAFF_TAG],
        summary="Rename, deactivate or reactivate a brand, or set its non-production patterns",
        parameters=[SLUG_PARAMETER],
        description="Only `name`, `is_active`, `non_production_patterns` and "
        "`expiring_soon_days` can change: the "
        "slug and key prefix are part of URLs and license keys. New patterns classify "
        "activations made from then on; existing activations keep their environment.",
        request=BrandUpdateInputSerializer,
        responses={
            200: BrandOutputSerializer,
            **error_responses(*WRITE_ERRORS, *STAFF_ERRORS, "not_found"),
        },
    )
    def patch(self, request: Request, slug: str) -> Response:
        brand = _brand_or_404(slug)
        serializer = BrandUpdateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        brand = services.brand_update(
            brand=brand, **serializer.validated_data, actor=staff_actor(request)
        )
        return Response(BrandOutputSerializer(brand).data)


# --- brand API keys ------------------------------------------------------------------------


class ApiKeyListCreateApi(StaffApi):
    queryset = BrandApiKey.objects.all()
    pagination_class = DefaultCursorPagination

    @extend_schema(
        tags=[STAFF_TAG],
        summary="List a brand's API keys (without secrets)",
        parameters=[SLUG_PARAMETER],
        responses={
            200: ApiKeyOutputSerializer(many=True),
            **error_responses(*STAFF_ERRORS, "not_found"),
        },
    )
    def get(self, request: Request, slug: str) -> Response:
        return paginated_response(
            queryset=selectors.api_key_list(brand=_brand_or_404(slug)),
            serializer_class=ApiKeyOutputSerializer,
            request=request,
            view=self,
        )

    @extend_schema(
        tags=[STAFF_TAG],
        summary="Create a brand API key",
        parameters=[SLUG_PARAMETER],
        description="The plain key is in this response only; it is stored as a hash.",
        request=ApiKeyCreateInputSerializer,
        responses={
            201: ApiKeyCreatedOutputSerializer,
            **error_responses(*WRITE_ERRORS, *STAFF_ERRORS, "not_found"),
        },
    )
    def post(self, request: Request, slug: str) -> Response:
        brand = _brand_or_404(slug)
        serializer = ApiKeyCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        api_key, plain = services.api_key_create(
            brand=brand,
            name=serializer.validated_data["name"],
            scopes=serializer.validated_data.get("scopes"),
            actor=staff_actor(request),
        )
        body = ApiKeyCreatedOutputSerializer({**_api_key_fields(api_key), "api_key": plain}).data
        return Response(body, status=status.HTTP_201_CREATED)


def _api_key_fields(api_key: BrandApiKey) -> dict[str, Any]:
    return {
        "id": api_key.pk,
        "name": api_key.name,
        "prefix": api_key.prefix,
        "scopes": api_key.scopes,
        "created_at": api_key.created_at,
    }


class ApiKeyDetailApi(StaffApi):
    queryset = BrandApiKey.objects.all()
    permission_classes = [IsStaff, RevokeNeedsChangePermission]

    @extend_schema(
        tags=[STAFF_TAG],
        summary="Revoke a brand API key",
        parameters=[SLUG_PARAMETER, API_KEY_ID_PARAMETER],
        description="Idempotent. Tokens already minted with the key live out their lifetime.",
        request=None,
        responses={204: None, **error_responses(*STAFF_ERRORS, "not_found")},
    )
    def delete(self, request: Request, slug: str, api_key_id: str) -> Response:
        brand = _brand_or_404(slug)
        api_key = selectors.api_key_get(brand=brand, api_key_id=int(api_key_id))
        if api_key is None:
            raise NotFound("No API key with this id for this brand.")
        services.api_key_revoke(api_key=api_key, actor=staff_actor(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- products ------------------------------------------------------------------------------


def _product_or_404(product_id: str) -> Product:
    product = selectors.product_get(product_id=int(product_id))
    if product is None:
        raise NotFound("No product with this id.")
    return product


class ProductListCreateApi(StaffApi):
    queryset = Product.objects.all()
    pagination_class = DefaultCursorPagination

    @extend_schema(
        tags=[STAFF_TAG],
        summary="List products",
        parameters=[ProductFilterSerializer],
        responses={
            200: ProductOutputSerializer(many=True),
            **error_responses("validation_error", *STAFF_ERRORS),
        },
    )
    def get(self, request: Request) -> Response:
        # A plain dict: DRF would treat "?brand=" from a QueryDict as absent.
        filters = ProductFilterSerializer(data=request.query_params.dict())
        filters.is_valid(raise_exception=True)
        return paginated_response(
            queryset=selectors.product_list(brand_slug=filters.validated_data.get("brand")),
            serializer_class=ProductOutputSerializer,
            request=request,
            view=self,
        )

    @extend_schema(
        tags=[STAFF_TAG],
        summary="Create a product",
        request=ProductCreateInputSerializer,
        responses={
            201: ProductOutputSerializer,
            **error_responses(*WRITE_ERRORS, *STAFF_ERRORS),
        },
    )
    def post(self, request: Request) -> Response:
        serializer = ProductCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        brand = selectors.brand_get(slug=data["brand"])
        if brand is None:
            raise ValidationFailed(
                "Invalid input.", details={"brand": ["No brand with this slug."]}
            )
        product = services.product_create(
            brand=brand,
            name=data["name"],
            slug=data["slug"],
            default_max_seats=data.get("default_max_seats"),
            heartbeat_seconds=data.get("heartbeat_seconds"),
            non_production_limit=data.get("non_production_limit", DEFAULT_NON_PRODUCTION_LIMIT),
            edd_item_id=data.get("edd_item_id"),
            token_lifetime_seconds=data.get(
                "token_lifetime_seconds", DEFAULT_TOKEN_LIFETIME_SECONDS
            ),
            actor=staff_actor(request),
        )
        return Response(ProductOutputSerializer(product).data, status=status.HTTP_201_CREATED)


class ProductDetailApi(StaffApi):
    queryset = Product.objects.all()

    @extend_schema(
        tags=[STAFF_TAG],
        summary="Get a product",
        parameters=[PRODUCT_ID_PARAMETER],
        responses={200: ProductOutputSerializer, **error_responses(*STAFF_ERRORS, "not_found")},
    )
    def get(self, request: Request, product_id: str) -> Response:
        return Response(ProductOutputSerializer(_product_or_404(product_id)).data)

    @extend_schema(
        tags=[STAFF_TAG],
        summary="Rename a product or change its default seats, heartbeat or non-production limit",
        parameters=[PRODUCT_ID_PARAMETER],
        description="Existing licenses keep their own `max_seats`. `heartbeat_seconds` and "
        "`non_production_limit` apply to every license of the product at once: a lower limit "
        "admits nothing new until the activations fall below it (nothing is released).",
        request=ProductUpdateInputSerializer,
        responses={
            200: ProductOutputSerializer,
            **error_responses(*WRITE_ERRORS, *STAFF_ERRORS, "not_found"),
        },
    )
    def patch(self, request: Request, product_id: str) -> Response:
        product = _product_or_404(product_id)
        serializer = ProductUpdateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        product = services.product_update(
            product=product, **serializer.validated_data, actor=staff_actor(request)
        )
        return Response(ProductOutputSerializer(product).data)


# --- signing keys (SPEC §12) ---------------------------------------------------------------


def _signing_key_fields(key: BrandSigningKey, published: set[int]) -> dict[str, Any]:
    return {
        "kid": key.kid,
        "created_at": key.created_at,
        "retired_at": key.retired_at,
        "signed_until": key.signed_until,
        "published": key.pk in published,
    }


class SigningKeyListApi(StaffApi):
    queryset = BrandSigningKey.objects.all()

    @extend_schema(
        tags=[STAFF_TAG],
        summary="List a brand's token-signing keys (public halves only)",
        description="Newest first. `published`: whether the key is in the brand's JWKS (the "
        "current key, and a retired key until the last token it signed has expired).",
        parameters=[SLUG_PARAMETER],
        responses={
            200: SigningKeyOutputSerializer(many=True),
            **error_responses(*STAFF_ERRORS, "not_found"),
        },
    )
    def get(self, request: Request, slug: str) -> Response:
        brand = _brand_or_404(slug)
        published = set(selectors.signing_keys_published(brand=brand).values_list("pk", flat=True))
        keys = selectors.signing_key_list(brand=brand)
        return Response(
            [SigningKeyOutputSerializer(_signing_key_fields(k, published)).data for k in keys]
        )


class SigningKeyRotateApi(StaffApi):
    queryset = BrandSigningKey.objects.all()

    @extend_schema(
        tags=[STAFF_TAG],
        summary="Rotate a brand's token-signing key",
        description="Makes a new current key: tokens signed from now on use it (cached "
        "tokens are re-signed at their next check). The retired key stays in the JWKS until "
        "the last token it signed has expired. Needs the add permission on brand signing "
        "keys.",
        parameters=[SLUG_PARAMETER],
        request=None,
        responses={
            201: SigningKeyOutputSerializer,
            **error_responses(*STAFF_ERRORS, "not_found"),
        },
    )
    def post(self, request: Request, slug: str) -> Response:
        brand = _brand_or_404(slug)
        key = services.signing_key_rotate(brand=brand, actor=staff_actor(request))
        body = SigningKeyOutputSerializer(_signing_key_fields(key, {key.pk})).data
        return Response(body, status=status.HTTP_201_CREATED)


JWKS_TAG = "jwks"


def jwks_response(request: Request, keys: Any) -> HttpResponse:
    """A JWKS body with a strong ETag (its digest), 304 when ``If-None-Match`` names it,
    and ``Cache-Control: public`` for JWKS_MAX_AGE seconds."""
    body = json.dumps(
        {"keys": [public_jwk(kid=key.kid, public_key=key.public_key) for key in keys]},
        separators=(",", ":"),
    ).encode()
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    headers = {
        "ETag": etag,
        "Cache-Control": f"public, max-age={settings.JWKS_MAX_AGE}",
    }
    sent = request.headers.get("If-None-Match", "")
    # Weak comparison (RFC 9110 13.1.2): a proxy that compresses the body (nginx's gzip)
    # hands clients W/"…", which they send back.
    if etag in {tag.strip().removeprefix("W/") for tag in sent.split(",")} or sent.strip() == "*":
        return HttpResponse(status=304, headers=headers)
    return HttpResponse(body, content_type="application/json", headers=headers)


class PublicApi(APIView):
    authentication_classes: list[Any] = []
    permission_classes: list[Any] = []


class JwksApi(PublicApi):
    @extend_schema(
        tags=[JWKS_TAG],
        summary="Every brand's token-verification keys (JWKS)",
        description="The public Ed25519 keys (RFC 8037 JWKs) that license tokens verify "
        "against, matched by the token header's `kid`. Cacheable: honour `Cache-Control` "
        "and revalidate with `If-None-Match` (304). A verifier that meets an unknown `kid` "
        "fetches the set again.",
        responses={200: JwksOutputSerializer, 304: None},
    )
    def get(self, request: Request) -> HttpResponse:
        return jwks_response(request, selectors.signing_keys_published())


class BrandJwksApi(PublicApi):
    @extend_schema(
        tags=[JWKS_TAG],
        summary="One brand's token-verification keys (JWKS)",
        description="As `/.well-known/jwks.json`, for one brand: a token of another brand "
        "does not verify against it. Empty until the brand's first token is signed.",
        parameters=[
            OpenApiParameter(
                "brand_slug",
                str,
                OpenApiParameter.PATH,
                description="Brand slug: lower-case letters, digits, dashes.",
            )
        ],
        responses={200: JwksOutputSerializer, 304: None, **error_responses("not_found")},
    )
    def get(self, request: Request, brand_slug: str) -> HttpResponse:
        brand = selectors.brand_get(slug=brand_slug)
        if brand is None:
            raise NotFound("No brand with this slug.")
        return jwks_response(request, selectors.signing_keys_published(brand=brand))

"""Staff API and token routes, mounted at ``/api/v1/``. The trailing slash is optional.

Path parameters are constrained here (slug alphabet, ids of at most 18 digits), so a value
no brand or product can have is a 404 before it reaches a query.
"""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, re_path

from brands import apis

SLUG = r"(?P<slug>[a-z0-9-]{1,50})"

urlpatterns: list[URLPattern | URLResolver] = [
    re_path(r"^auth/token/?$", apis.StaffTokenObtainApi.as_view(), name="staff-token"),
    re_path(
        r"^auth/token/refresh/?$", apis.StaffTokenRefreshApi.as_view(), name="staff-token-refresh"
    ),
    re_path(
        r"^auth/token/revoke/?$", apis.StaffTokenRevokeApi.as_view(), name="staff-token-revoke"
    ),
    re_path(r"^auth/brand-token/?$", apis.BrandTokenApi.as_view(), name="brand-token"),
    re_path(r"^brands/?$", apis.BrandListCreateApi.as_view(), name="staff-brands"),
    re_path(rf"^brands/{SLUG}/?$", apis.BrandDetailApi.as_view(), name="staff-brand-detail"),
    re_path(
        rf"^brands/{SLUG}/api-keys/?$", apis.ApiKeyListCreateApi.as_view(), name="staff-api-keys"
    ),
    re_path(
        rf"^brands/{SLUG}/api-keys/(?P<api_key_id>[0-9]{{1,18}})/?$",
        apis.ApiKeyDetailApi.as_view(),
        name="staff-api-key-detail",
    ),
    re_path(
        rf"^brands/{SLUG}/signing-keys/?$",
        apis.SigningKeyListApi.as_view(),
        name="staff-signing-keys",
    ),
    re_path(
        rf"^brands/{SLUG}/signing-keys/rotate/?$",
        apis.SigningKeyRotateApi.as_view(),
        name="staff-signing-key-rotate",
    ),
    re_path(r"^products/?$", apis.ProductListCreateApi.as_view(), name="staff-products"),
    re_path(
        r"^products/(?P<product_id>[0-9]{1,18})/?$",
        apis.ProductDetailApi.as_view(),
        name="staff-product-detail",
    ),
]

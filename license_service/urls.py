"""URL map. API routes accept an optional trailing slash (``APPEND_SLASH`` is off)."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.staticfiles.urls import staticfiles_urlpatterns
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularJSONAPIView, SpectacularSwaggerView

import license_service.openapi  # noqa: F401 (registers the security-scheme extensions)
from activations.check.view import CheckApi, check_get
from brands.apis import BrandJwksApi, JwksApi
from license_service.health import HealthzApi, ReadyzApi
from license_service.metrics import metrics_view
from license_service.views import CATCH_ALL_ROUTE, admin_without_slash, landing, not_found
from wordpress.views import edd_endpoint

CHECK_ROUTE = r"^api/v1/product/check/(?P<license_key>[^/]+)/?$"

urlpatterns = [
    # First, and not under an include: the GET check is the hot path, Django tries the
    # patterns in order, and an include adds a second level of matching (about 4 µs) to
    # every request it serves. Any key, shaped or not: a value that is no key is answered
    # as an unknown key.
    re_path(CHECK_ROUTE, check_get, name="product-check"),
    # WordPress plugins through the EDD Software Licensing protocol (SPEC §11): the other
    # hot path (every site asks twice a day), second for the same reason. The trailing
    # slash is optional: the updater adds one to the store URL, the sample plugin posts it
    # as given.
    re_path(r"^edd/(?P<brand_slug>[^/]+)/?$", edd_endpoint, name="edd-endpoint"),
    # Token verification keys (SPEC §12): public, cacheable.
    re_path(r"^\.well-known/jwks\.json$", JwksApi.as_view(), name="jwks"),
    re_path(
        r"^api/v1/product/jwks/(?P<brand_slug>[a-z0-9-]{1,50})/?$",
        BrandJwksApi.as_view(),
        name="brand-jwks",
    ),
    # The rest of the product API.
    path("api/v1/product/", include("activations.urls")),
    path("api/v1/", include("brands.urls")),
    # The staff API's licenses and keys (licensing) and seat release (activations).
    path("api/v1/", include("licensing.staff_urls")),
    path("api/v1/", include("activations.staff_urls")),
    path("api/v1/brand/", include("licensing.urls")),
    # The brand-side seat release lives with the seat logic (activations -> licensing).
    path("api/v1/brand/", include("activations.brand_urls")),
    # The event feed (SPEC §13).
    path("api/v1/brand/", include("events.urls")),
    # Webhook endpoints and their delivery log (SPEC §13).
    path("api/v1/brand/", include("webhooks.urls")),
    # Releases: the brand API's uploads and the signed package downloads (SPEC §11).
    path("api/v1/", include("releases.urls")),
    path("admin/", admin.site.urls),
    path("admin", admin_without_slash, name="admin-without-slash"),
    # The landing page: staff to the admin, anyone else a JSON index of the API (SPEC §15).
    path("", landing, name="landing"),
    # Operations (SPEC §7).
    path("healthz", HealthzApi.as_view(), name="healthz"),
    path("readyz", ReadyzApi.as_view(), name="readyz"),
    path("metrics", metrics_view, name="metrics"),
    path("api/schema/", SpectacularJSONAPIView.as_view(), name="schema"),
    # The OpenAPI description of the check above (a plain function, which drf-spectacular does
    # not enumerate): never reached, the first pattern matches the same paths.
    re_path(CHECK_ROUTE, CheckApi.as_view(), name="product-check-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    # The admin's static files under the development server (make run), as runserver served
    # them; an empty list unless DEBUG is on. After the API: no API route pays for it.
    *staticfiles_urlpatterns(),
    # Last: every URL no pattern above takes is a JSON 404, DEBUG or not (license_service.views).
    re_path(CATCH_ALL_ROUTE, not_found, name="not-found"),
]

handler400 = "license_service.views.bad_request"
handler403 = "license_service.views.permission_denied"
handler404 = "license_service.views.page_not_found"
handler500 = "license_service.views.server_error"

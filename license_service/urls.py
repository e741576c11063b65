"""URL map. API routes accept an optional trailing slash (``APPEND_SLASH`` is off)."""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("brands.urls")),
    path("api/v1/brand/", include("licensing.urls")),
    # The brand-side seat release lives with the seat logic (activations -> licensing).
    path("api/v1/brand/", include("activations.brand_urls")),
    path("api/v1/product/", include("activations.urls")),
]

handler400 = "license_service.views.bad_request"
handler403 = "license_service.views.permission_denied"
handler404 = "license_service.views.page_not_found"
handler500 = "license_service.views.server_error"

"""Brand-side seat release, mounted at ``/api/v1/brand/`` (optional trailing slash)."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, re_path

from activations import apis

urlpatterns: list[URLPattern | URLResolver] = [
    re_path(
        r"^activations/(?P<activation_id>[0-9]{1,18})/?$",
        apis.BrandActivationApi.as_view(),
        name="brand-activation",
    ),
]

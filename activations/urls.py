"""Product API routes, mounted at ``/api/v1/product/`` (optional trailing slash)."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, re_path

from activations import apis

urlpatterns: list[URLPattern | URLResolver] = [
    # The check first (the hot path). Any key, shaped or not: a value that is no key is
    # answered as an unknown key.
    re_path(r"^check/(?P<license_key>[^/]+)/?$", apis.CheckApi.as_view(), name="product-check"),
    re_path(r"^check/?$", apis.CheckPostApi.as_view(), name="product-check-post"),
    re_path(r"^activate/?$", apis.ActivateApi.as_view(), name="product-activate"),
    re_path(r"^deactivate/?$", apis.DeactivateApi.as_view(), name="product-deactivate"),
]

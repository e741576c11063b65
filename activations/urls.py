"""Product API routes, mounted at ``/api/v1/product/`` (optional trailing slash), except
``GET check/{key}``, which the root URL map matches first, unnested (the hot path)."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, re_path

from activations import apis
from activations.check import view as check_view

urlpatterns: list[URLPattern | URLResolver] = [
    # GET check/{key} is mounted by license_service/urls.py at the top level (the hot path).
    re_path(r"^check/?$", check_view.check_post, name="product-check-post"),
    # The OpenAPI description of the view above: never reached, the pattern above matches first.
    re_path(r"^check/?$", check_view.CheckPostApi.as_view(), name="product-check-post-schema"),
    re_path(r"^activate/?$", apis.ActivateApi.as_view(), name="product-activate"),
    re_path(r"^deactivate/?$", apis.DeactivateApi.as_view(), name="product-deactivate"),
    re_path(r"^heartbeat/?$", apis.HeartbeatApi.as_view(), name="product-heartbeat"),
]

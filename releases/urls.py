"""Releases routes, mounted at /api/v1/ (optional trailing slash): the brand API's and the
signed package downloads."""

from __future__ import annotations

from django.urls import re_path

from releases import apis
from releases.downloads import download_view
from releases.updates import UpdatesApi, updates_get

urlpatterns = [
    re_path(
        r"^brand/products/(?P<slug>[^/]{1,50})/releases/?$",
        apis.ReleaseCollectionApi.as_view(),
        name="brand-releases",
    ),
    re_path(
        r"^brand/products/(?P<slug>[^/]{1,50})/releases/(?P<release_id>[0-9]{1,18})/?$",
        apis.ReleaseDetailApi.as_view(),
        name="brand-release",
    ),
    # The native update check; its OpenAPI description (a DRF view, never reached) after it.
    re_path(r"^product/updates/?$", updates_get, name="product-updates"),
    re_path(r"^product/updates/?$", UpdatesApi.as_view(), name="product-updates-schema"),
    re_path(
        r"^product/downloads/(?P<token>[^/]{1,2048})/?$", download_view, name="release-download"
    ),
]

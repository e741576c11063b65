"""The EDD-compatible endpoint, mounted at ``/edd/`` (SPEC §11). The trailing slash is
optional: the updater adds one to the store URL, the sample plugin posts it as given."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, re_path

from wordpress import views

urlpatterns: list[URLPattern | URLResolver] = [
    re_path(r"^(?P<brand_slug>[^/]+)/?$", views.edd_endpoint, name="edd-endpoint"),
]

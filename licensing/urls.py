"""Brand API routes, mounted at /api/v1/brand/ (optional trailing slash)."""

from __future__ import annotations

from django.urls import re_path

from licensing import apis

urlpatterns = [
    re_path(r"^licenses/?$", apis.LicenseCollectionApi.as_view(), name="brand-licenses"),
    re_path(
        r"^licenses/by-email/(?P<email>[^/]{1,254})/?$",
        apis.LicensesByEmailApi.as_view(),
        name="brand-licenses-by-email",
    ),
    re_path(
        r"^licenses/(?P<license_id>[0-9]{1,18})/?$",
        apis.LicenseDetailApi.as_view(),
        name="brand-license",
    ),
    re_path(
        r"^licenses/(?P<license_id>[0-9]{1,18})/events/?$",
        apis.LicenseEventsApi.as_view(),
        name="brand-license-events",
    ),
]

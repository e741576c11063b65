"""Staff seat release, mounted at ``/api/v1/`` (optional trailing slash)."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, re_path

from activations import staff_apis

urlpatterns: list[URLPattern | URLResolver] = [
    re_path(
        r"^licenses/(?P<license_id>[0-9]{1,18})/activations/(?P<activation_id>[0-9]{1,18})/?$",
        staff_apis.StaffActivationReleaseApi.as_view(),
        name="staff-license-activation",
    ),
]

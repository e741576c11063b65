"""Staff API routes for licenses and keys, mounted at ``/api/v1/`` (optional trailing
slash). Ids of at most 18 digits, as everywhere."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, re_path

from licensing import staff_apis as apis

LICENSE = r"licenses/(?P<license_id>[0-9]{1,18})"

urlpatterns: list[URLPattern | URLResolver] = [
    re_path(r"^licenses/?$", apis.StaffLicenseListApi.as_view(), name="staff-licenses"),
    re_path(rf"^{LICENSE}/?$", apis.StaffLicenseDetailApi.as_view(), name="staff-license"),
    re_path(
        rf"^{LICENSE}/suspend/?$",
        apis.StaffLicenseSuspendApi.as_view(),
        name="staff-license-suspend",
    ),
    re_path(
        rf"^{LICENSE}/resume/?$", apis.StaffLicenseResumeApi.as_view(), name="staff-license-resume"
    ),
    re_path(
        rf"^{LICENSE}/cancel/?$", apis.StaffLicenseCancelApi.as_view(), name="staff-license-cancel"
    ),
    re_path(
        rf"^{LICENSE}/renew/?$", apis.StaffLicenseRenewApi.as_view(), name="staff-license-renew"
    ),
    re_path(
        rf"^{LICENSE}/seats/?$", apis.StaffLicenseSeatsApi.as_view(), name="staff-license-seats"
    ),
    re_path(
        r"^license-keys/(?P<license_key_id>[0-9]{1,18})/?$",
        apis.StaffLicenseKeyApi.as_view(),
        name="staff-license-key",
    ),
]

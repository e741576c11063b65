"""Scope checks for the brand API, staff check for the staff API."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework.permissions import SAFE_METHODS, BasePermission, DjangoModelPermissions
from rest_framework.request import Request

from brands.authentication import BrandPrincipal
from brands.models import SCOPE_LICENSES_READ, SCOPE_LICENSES_WRITE
from license_service.middleware import client_ip
from license_service.ratelimit import rate_limit_hit


class IsBrand(BasePermission):
    """Authenticated as a brand, with ``licenses:read`` for reads and ``licenses:write``
    for every other method, and within the brand's request rate (``THROTTLE_BRAND``;
    429 ``throttled`` past it)."""

    message = "This endpoint needs a brand credential with the right scope."

    def has_permission(self, request: Request, view: Any) -> bool:
        principal = request.user
        if not isinstance(principal, BrandPrincipal):
            return False
        needed = SCOPE_LICENSES_READ if request.method in SAFE_METHODS else SCOPE_LICENSES_WRITE
        if not principal.has_scope(needed):
            self.message = f"This API key lacks the '{needed}' scope."
            return False
        rate_limit_hit("brand", principal.brand.slug, settings.LICENSE_SERVICE["THROTTLE_BRAND"])
        return True


class LoginRateLimited(BasePermission):
    """Token endpoints take a password or an API key: limit attempts per client IP
    (``THROTTLE_AUTH_IP``) so neither can be guessed at speed."""

    def has_permission(self, request: Request, view: Any) -> bool:
        ip = client_ip(request) or "unknown"
        rate_limit_hit("auth-ip", ip, settings.LICENSE_SERVICE["THROTTLE_AUTH_IP"])
        return True


class IsStaff(BasePermission):
    message = "Staff only."

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        return bool(user and getattr(user, "is_authenticated", False) and user.is_staff)


_VIEW = "%(app_label)s.view_%(model_name)s"
_CHANGE = "%(app_label)s.change_%(model_name)s"


class StaffModelPermissions(DjangoModelPermissions):
    """The Django model permission each method needs on the view's ``queryset`` model, as
    the admin checks it (SPEC §4): a read needs ``view_`` or ``change_`` (the admin shows a
    model to either), POST ``add_``, PATCH/PUT ``change_``, DELETE ``delete_``. Superusers
    have them all. Refused: 403 ``permission_denied``."""

    message = "Your staff account lacks the permission this action needs."
    perms_map = {
        **DjangoModelPermissions.perms_map,
        "GET": [_VIEW],
        "HEAD": [_VIEW],
    }

    def has_permission(self, request: Request, view: Any) -> bool:
        if request.method in ("GET", "HEAD") and self._may_change(request, view):
            return True
        return super().has_permission(request, view)

    def _may_change(self, request: Request, view: Any) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        return bool(user.has_perms(self.get_required_permissions("PATCH", view.queryset.model)))


class RevokeNeedsChangePermission(StaffModelPermissions):
    """Revoking an API key (DELETE) changes the key and keeps its row: it needs
    ``change_brandapikey``, as the admin's revoke action does."""

    perms_map = {**StaffModelPermissions.perms_map, "DELETE": [_CHANGE]}


class StaffActionPermission(BasePermission):
    """The one Django permission a staff action needs (the view's ``staff_permission``, e.g.
    ``licensing.suspend_license``): the very permission the admin's button checks, so the
    staff API and the console refuse the same people (SPEC §4, §15). Superusers have it.
    Refused: 403 ``permission_denied``."""

    message = "Your staff account lacks the permission this action needs."

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if not (user and getattr(user, "is_authenticated", False)):
            return False
        return bool(user.has_perm(view.staff_permission))

"""Admin for activations: read-only (seats are taken and freed by the product and brand
APIs). Also adds the activations inline to the license page: this app depends on
``licensing``, so it extends the license admin rather than ``licensing`` importing it."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from activations.models import Activation
from license_service.admin import ReadOnlyAdmin, ReadOnlyInline
from licensing.admin import LicenseAdmin as LicensingLicenseAdmin
from licensing.models import License


class ActivationInline(ReadOnlyInline):
    model = Activation
    fields = ("instance_identifier", "activated_at", "last_seen_at")
    readonly_fields = fields

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


admin.site.unregister(License)


@admin.register(License)
class LicenseAdmin(LicensingLicenseAdmin):
    inlines = [*LicensingLicenseAdmin.inlines, ActivationInline]


@admin.register(Activation)
class ActivationAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "instance_identifier",
        "license_id",
        "license_key",
        "product",
        "activated_at",
        "last_seen_at",
    ]
    list_filter = [("license__product__brand", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["license__license_key", "license__product__brand"]
    search_fields = [
        "instance_identifier",
        "license__license_key__key",
        "license__license_key__customer_email",
        "license__product__slug",
    ]
    fields = ("license", "instance_identifier", "activated_at", "last_seen_at")
    readonly_fields = fields

    @admin.display(description="license key", ordering="license__license_key__key")
    def license_key(self, obj: Activation) -> str:
        return obj.license.license_key.key

    @admin.display(description="product", ordering="license__product__slug")
    def product(self, obj: Activation) -> str:
        return str(obj.license.product)

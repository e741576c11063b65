"""Admin for activations: read-only (seats are taken and freed by the product and brand
APIs). Also adds the activations inline to the license page: this app depends on
``licensing``, so it extends the license admin rather than ``licensing`` importing it.

Each activation shows its environment (what the service decided), the client's claim, and
its state (SPEC §10): ``active``, ``dead`` (not seen for longer than the product's
``heartbeat_seconds``: no longer a seat) or ``reclaimed`` (its place was taken). The state
filter uses ``licensing.seats.live_q``, the one definition of a live activation.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone

from activations.models import Activation, ActivationState
from license_service.admin import ReadOnlyAdmin, ReadOnlyInline
from licensing.admin import LicenseAdmin as LicensingLicenseAdmin
from licensing.models import License
from licensing.seats import live_q

# From an activation to its product, for licensing.seats.
_PRODUCT = "license__product__"


def _state(obj: Activation) -> str:
    return obj.state(obj.license.product.heartbeat_seconds)


class StateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(state.value, state.label) for state in ActivationState]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        live = live_q(timezone.now(), product_prefix=_PRODUCT)
        if self.value() == ActivationState.ACTIVE:
            return queryset.filter(live)
        if self.value() == ActivationState.DEAD:
            return queryset.filter(Q(reclaimed_at__isnull=True) & ~live)
        if self.value() == ActivationState.RECLAIMED:
            return queryset.filter(reclaimed_at__isnull=False)
        return queryset


class ActivationInline(ReadOnlyInline):
    model = Activation
    fields = ("instance_identifier", "environment", "state", "activated_at", "last_seen_at")
    readonly_fields = fields

    @admin.display(description="state")
    def state(self, obj: Activation) -> str:
        return _state(obj)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Activation]:
        return super().get_queryset(request).select_related("license__product")

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
        "environment",
        "state",
        "environment_claim",
        "license_id",
        "license_key",
        "product",
        "activated_at",
        "last_seen_at",
        "reclaimed_at",
    ]
    list_filter = [
        "environment",
        StateFilter,
        ("license__product__brand", admin.RelatedOnlyFieldListFilter),
    ]
    list_select_related = ["license__license_key", "license__product__brand"]
    search_fields = [
        "instance_identifier",
        "license__license_key__key",
        "license__license_key__customer_email",
        "license__product__slug",
    ]
    fields = (
        "license",
        "instance_identifier",
        "environment",
        "environment_claim",
        "state",
        "activated_at",
        "last_seen_at",
        "reclaimed_at",
    )
    readonly_fields = fields

    @admin.display(description="state")
    def state(self, obj: Activation) -> str:
        return _state(obj)

    @admin.display(description="license key", ordering="license__license_key__key")
    def license_key(self, obj: Activation) -> str:
        return obj.license.license_key.key

    @admin.display(description="product", ordering="license__product__slug")
    def product(self, obj: Activation) -> str:
        return str(obj.license.product)

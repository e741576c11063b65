"""Admin for activations: read-only (seats are taken and freed by the product and brand
APIs). Also adds the activations inline to the license page: this app depends on
``licensing``, so it extends the license admin rather than ``licensing`` importing it.

Each activation shows its environment (what the service decided), the client's claim, and
its state (SPEC §10): ``active``, ``dead`` (not seen for longer than the product's
``heartbeat_seconds``: no longer a seat) or ``reclaimed`` (its place was taken). The state
filter uses ``licensing.seats.live_q``, the one definition of a live activation.
"""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib import admin
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, reverse
from django.utils import timezone

from activations.models import Activation, ActivationState, Environment
from activations.normalize import clean_instance_identifier
from activations.services import activations_release
from audit.services import Actor
from license_service.admin import ReadOnlyAdmin, ReadOnlyInline
from licensing.admin import Button, ConsoleViews, has_console_permission
from licensing.admin import LicenseAdmin as LicensingLicenseAdmin
from licensing.keys import key_masked
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


class EnvironmentFilter(admin.SimpleListFilter):
    """Licenses with a site (an activation not reclaimed) in this environment."""

    title = "environment"
    parameter_name = "environment"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(environment.value, environment.label) for environment in Environment]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() not in Environment.values:
            return queryset
        sites = Activation.objects.filter(environment=self.value(), reclaimed_at__isnull=True)
        return queryset.filter(pk__in=sites.values("license_id"))


class ActivationChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        seen = timezone.localtime(obj.last_seen_at).strftime("%Y-%m-%d %H:%M")
        return f"{obj.instance_identifier} · {obj.environment} · {_state(obj)} · seen {seen}"


class ReleaseForm(forms.Form):
    activations = ActivationChoiceField(
        queryset=Activation.objects.none(),
        widget=forms.CheckboxSelectMultiple,
        label="Sites to release",
        help_text="Each frees its seat at once; the site gets a seat again when it activates.",
    )

    def __init__(self, *args: Any, license_: License, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = cast(forms.ModelMultipleChoiceField, self.fields["activations"])
        field.queryset = (
            Activation.objects.filter(license=license_)
            .select_related("license__product")
            .order_by("pk")
        )


admin.site.unregister(License)


@admin.register(License)
class LicenseAdmin(LicensingLicenseAdmin):
    """The license page with its sites: listed, searched (by instance identifier, typed as
    a customer would: ``https://www.Example.com/`` finds ``example.com``), filtered by
    environment, and released with the "Release seats" button."""

    inlines = [*LicensingLicenseAdmin.inlines, ActivationInline]
    list_filter = [*LicensingLicenseAdmin.list_filter, EnvironmentFilter]
    search_fields = [*LicensingLicenseAdmin.search_fields, "activations__instance_identifier"]

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[Any], bool]:
        found, may_duplicate = super().get_search_results(request, queryset, search_term)
        try:
            site = clean_instance_identifier(search_term)
        except ValueError:
            return found, may_duplicate
        if site != search_term.strip():
            sites = Activation.objects.filter(instance_identifier=site).values("license_id")
            found = found | queryset.filter(pk__in=sites)
        return found, may_duplicate

    def get_urls(self) -> list[URLPattern]:
        return [self.console_url("release"), *super().get_urls()]

    def console_buttons(self, request: HttpRequest, obj: License) -> list[Button]:
        buttons = super().console_buttons(request, obj)
        if has_console_permission(request, "release_activation") and obj.activations.exists():
            buttons.insert(0, Button("Release seats", self._url("release", obj.pk)))
        return buttons

    def release_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        def perform(license_: License, form: forms.Form, actor: Actor) -> str:
            chosen = form.cleaned_data["activations"]
            released = activations_release(
                license_=license_, activation_ids=[a.pk for a in chosen], actor=actor
            )
            names = ", ".join(a.instance_identifier for a in chosen)
            return f"Released {released} site(s) of {license_}: {names}."

        def initial(license_: License) -> dict[str, Any]:
            chosen = request.GET.getlist("activation")
            return {"activations": [pk for pk in chosen if pk.isdigit()]}

        return self.console_form(
            request,
            object_id,
            codename="release_activation",
            form_class=ReleaseForm,
            title="Release seats",
            button="Release",
            intro="The customer can always free a seat from the product too; a released "
            "site that checks in again is told it is not active.",
            perform=perform,
            initial=initial,
            form_kwargs=lambda license_: {"license_": license_},
        )


@admin.register(Activation)
class ActivationAdmin(ConsoleViews, ReadOnlyAdmin):
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
        return key_masked(obj.license.license_key.key)

    def console_buttons(self, request: HttpRequest, obj: Activation) -> list[Button]:
        if not has_console_permission(request, "release_activation"):
            return []
        url = reverse("admin:licensing_license_release", args=[obj.license_id])
        return [Button("Release this seat", f"{url}?activation={obj.pk}", danger=True)]

    @admin.display(description="product", ordering="license__product__slug")
    def product(self, obj: Activation) -> str:
        return str(obj.license.product)

"""Admin for brands, products and brand API keys.

The admin never writes a row itself: adds and edits go through ``brands.services``, with
the staff user as the audit actor, exactly as the staff API does. A key's hash is never
shown; its plain text is shown once, in the message after it was created.
"""

from __future__ import annotations

from typing import Any, TypeVar

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.forms import BaseModelFormSet, ModelForm
from django.http import HttpRequest

from audit.services import Actor
from brands import lockout, services
from brands.limits import (
    DEFAULT_TOKEN_LIFETIME_SECONDS,
    HEARTBEAT_MAX_SECONDS,
    NON_PRODUCTION_LIMIT_MAX,
    edd_item_id_problem,
    heartbeat_min_seconds,
    heartbeat_seconds_problem,
    non_production_limit_problem,
    token_lifetime_problem,
)
from brands.models import (
    ALL_SCOPES,
    DEFAULT_SCOPES,
    MAX_EXPIRING_SOON_DAYS,
    Brand,
    BrandApiKey,
    BrandSigningKey,
    Product,
)
from brands.patterns import PATTERN_HELP, host_patterns_problem
from license_service.admin import ReadOnlyInline


def _actor(request: HttpRequest) -> Actor:
    return Actor.staff(request.user.get_username())


_Row = TypeVar("_Row", Brand, Product, BrandApiKey)


def _adopt(obj: _Row, saved: _Row) -> None:
    """Make the admin's unsaved form instance stand for the row a service created, so the
    admin's log entry, redirect and inline formsets refer to it."""
    obj.pk = saved.pk
    obj.created_at = saved.created_at
    obj._state.adding = False
    obj._state.db = saved._state.db


# --- login ---------------------------------------------------------------------------------


class StaffLoginForm(AdminAuthenticationForm):
    """The admin's login form. Its ``authenticate()`` goes through django-axes; when axes
    refuses the attempt (too many failures for this username or from this IP), the form
    says so instead of "wrong password", and ``brands.lockout`` answers it with 429."""

    def clean(self) -> dict[str, Any]:
        try:
            return super().clean()
        except ValidationError:
            if lockout.is_locked_out(self.request):
                raise ValidationError(lockout.lockout_message(), code="locked_out") from None
            raise


admin.site.login_form = StaffLoginForm


# --- brands and their products -----------------------------------------------------------

SEAT_SETTINGS = ("heartbeat_seconds", "non_production_limit")


class SeatSettingsForm(forms.ModelForm):
    """A product's heartbeat and non-production limit, checked as the staff API checks
    them (``brands.limits``): a bad value is a form error, never a failed save."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "heartbeat_seconds" in self.fields:
            self.fields["heartbeat_seconds"].help_text = (
                f"Empty: activations never go stale. Else {heartbeat_min_seconds()} to "
                f"{HEARTBEAT_MAX_SECONDS} seconds: an activation not seen for longer is dead "
                "(takes no seat; its place may be reclaimed)."
            )
        if "non_production_limit" in self.fields:
            self.fields["non_production_limit"].help_text = (
                "Staging and local activations a license may hold besides its seats "
                f"(0 to {NON_PRODUCTION_LIMIT_MAX})."
            )

    def clean_heartbeat_seconds(self) -> int | None:
        value: int | None = self.cleaned_data.get("heartbeat_seconds")
        problem = heartbeat_seconds_problem(value)
        if problem:
            raise ValidationError(problem, code="invalid")
        return value

    def clean_non_production_limit(self) -> int:
        value: int = self.cleaned_data["non_production_limit"]
        problem = non_production_limit_problem(value)
        if problem:
            raise ValidationError(problem, code="invalid")
        return value


class ProductInlineForm(SeatSettingsForm):
    class Meta:
        model = Product
        fields = ["name", "slug", "default_max_seats", *SEAT_SETTINGS]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None:
            # A product's slug is part of every license that refers to it.
            self.fields["slug"].disabled = True


class ProductInline(admin.TabularInline):
    model = Product
    form = ProductInlineForm
    fields = ("name", "slug", "default_max_seats", *SEAT_SETTINGS)
    extra = 0
    can_delete = False
    show_change_link = True


class BrandApiKeyInline(ReadOnlyInline):
    """Read-only: keys are created on the API key page, which shows the plain key once."""

    model = BrandApiKey
    fields = ("name", "prefix", "scope_list", "created_at", "last_used_at", "revoked_at")
    readonly_fields = fields

    @admin.display(description="scopes")
    def scope_list(self, obj: BrandApiKey) -> str:
        return ", ".join(obj.scopes)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class HostPatternsField(forms.CharField):
    """A brand's non-production patterns as a textarea, one pattern per line (blank lines
    and the spaces around a pattern are dropped); validated as the staff API validates
    them (``brands.patterns``). Patterns are not lower-cased for you: the rule says they are
    lower-case, and the error says so."""

    widget = forms.Textarea(attrs={"rows": 4, "cols": 60})

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault("help_text", "One pattern per line. " + PATTERN_HELP)
        super().__init__(**kwargs)

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list):
            return "\n".join(str(pattern) for pattern in value)
        return value

    def to_python(self, value: Any) -> list[str]:  # type: ignore[override]
        if isinstance(value, list):
            return value
        text = super().to_python(value) or ""
        return [line.strip() for line in text.splitlines() if line.strip()]

    def validate(self, value: Any) -> None:
        problem = host_patterns_problem(value)
        if problem:
            raise ValidationError(problem, code="invalid")


class BrandForm(forms.ModelForm):
    non_production_patterns = HostPatternsField(label="Non-production patterns")
    # Optional in the form (a new brand gets the model's default, 7).
    expiring_soon_days = forms.IntegerField(
        required=False,
        min_value=0,
        max_value=MAX_EXPIRING_SOON_DAYS,
        help_text="Days before expiry that license.expiring_soon is announced (0: never).",
    )

    class Meta:
        model = Brand
        fields = [
            "name",
            "slug",
            "key_prefix",
            "is_active",
            "non_production_patterns",
            "expiring_soon_days",
        ]


@admin.register(Brand)
class BrandAdmin(admin.ModelAdmin):
    form = BrandForm
    list_display = ["name", "slug", "key_prefix", "is_active", "created_at"]
    list_filter = ["is_active"]
    search_fields = ["name", "slug", "key_prefix"]
    inlines = [ProductInline, BrandApiKeyInline]
    actions = ["rotate_signing_key"]

    @admin.action(
        description="Rotate signing key (new tokens use a new key)",
        permissions=["rotate_signing_key"],
    )
    def rotate_signing_key(self, request: HttpRequest, queryset: QuerySet[Brand]) -> None:
        for brand in queryset:
            key = services.signing_key_rotate(brand=brand, actor=_actor(request))
            self.message_user(
                request, f"{brand.slug}: new signing key {key.kid}.", level=messages.SUCCESS
            )

    def has_rotate_signing_key_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("brands.add_brandsigningkey")

    def get_fields(self, request: HttpRequest, obj: Brand | None = None) -> tuple[str, ...]:
        if obj is None:
            return ("name", "slug", "key_prefix", "non_production_patterns")
        return (
            "name",
            "slug",
            "key_prefix",
            "is_active",
            "non_production_patterns",
            "signing_keys",
            "expiring_soon_days",
            "created_at",
        )

    def get_readonly_fields(
        self, request: HttpRequest, obj: Brand | None = None
    ) -> tuple[str, ...]:
        # The slug is in URLs and the key prefix in every license key already issued.
        return ("slug", "key_prefix", "signing_keys", "created_at") if obj is not None else ()

    @admin.display(description="token signing keys")
    def signing_keys(self, obj: Brand) -> str:
        """The public side of the brand's keys, newest first (rotate: the list's action)."""
        keys = BrandSigningKey.objects.filter(brand=obj).order_by("-created_at", "-id")
        lines = [
            f"{key.kid}: "
            + (
                "current"
                if key.retired_at is None
                else f"retired {key.retired_at:%Y-%m-%d %H:%M}, tokens until "
                + (f"{key.signed_until:%Y-%m-%d %H:%M}" if key.signed_until else "none")
            )
            for key in keys
        ]
        return "; ".join(lines) or "none yet (made by the brand's first token)"

    def save_model(self, request: HttpRequest, obj: Brand, form: ModelForm, change: bool) -> None:
        data = form.cleaned_data
        if not change:
            brand = services.brand_create(
                name=data["name"],
                slug=data["slug"],
                key_prefix=data["key_prefix"],
                non_production_patterns=data["non_production_patterns"],
                actor=_actor(request),
            )
            _adopt(obj, brand)
        elif form.has_changed():
            services.brand_update(
                brand=obj,
                name=data["name"],
                is_active=data["is_active"],
                non_production_patterns=data["non_production_patterns"],
                expiring_soon_days=(
                    form.initial["expiring_soon_days"]
                    if data.get("expiring_soon_days") is None
                    else data["expiring_soon_days"]
                ),
                actor=_actor(request),
            )

    def save_formset(
        self,
        request: HttpRequest,
        form: ModelForm[Brand],
        formset: BaseModelFormSet[Any, ModelForm[Any]],
        change: bool,
    ) -> None:
        # commit=False: collect what changed without writing (the admin's change message
        # reads new_objects/changed_objects); the API key inline is read-only and yields none.
        formset.save(commit=False)
        if formset.model is not Product:
            return
        for product in formset.new_objects:
            services.product_create(
                brand=form.instance,
                name=product.name,
                slug=product.slug,
                default_max_seats=product.default_max_seats,
                heartbeat_seconds=product.heartbeat_seconds,
                non_production_limit=product.non_production_limit,
                actor=_actor(request),
            )
        for product, _fields in formset.changed_objects:
            services.product_update(
                product=product,
                name=product.name,
                default_max_seats=product.default_max_seats,
                heartbeat_seconds=product.heartbeat_seconds,
                non_production_limit=product.non_production_limit,
                actor=_actor(request),
            )

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # licenses refer to brands; deactivate instead


class ProductForm(SeatSettingsForm):
    """The product page's form: the seat settings, and the EDD item id checked as the
    staff API checks it (unique within the brand: a form error, never a failed save), and
    the token lifetime within its bounds (``brands.limits``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "token_lifetime_seconds" in self.fields:
            self.fields["token_lifetime_seconds"].required = False  # empty: unchanged/default

    def clean_token_lifetime_seconds(self) -> int:
        value: int | None = self.cleaned_data.get("token_lifetime_seconds")
        if value is None:
            return self.instance.token_lifetime_seconds or DEFAULT_TOKEN_LIFETIME_SECONDS
        problem = token_lifetime_problem(value)
        if problem:
            raise ValidationError(problem, code="invalid")
        return value

    def clean_edd_item_id(self) -> int | None:
        value: int | None = self.cleaned_data.get("edd_item_id")
        problem = edd_item_id_problem(value)
        if problem:
            raise ValidationError(problem, code="invalid")
        brand_id = self.instance.brand_id if self.instance.pk else None
        brand = self.cleaned_data.get("brand")
        if brand is not None:
            brand_id = brand.pk
        if value is not None and brand_id is not None:
            taken = Product.objects.filter(brand_id=brand_id, edd_item_id=value)
            if self.instance.pk is not None:
                taken = taken.exclude(pk=self.instance.pk)
            if taken.exists():
                raise ValidationError(
                    "Another product of this brand has this EDD item id.", code="unique"
                )
        return value


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    form = ProductForm
    list_display = [
        "name",
        "slug",
        "brand",
        "default_max_seats",
        *SEAT_SETTINGS,
        "edd_item_id",
        "created_at",
    ]
    list_filter = ["brand"]
    list_select_related = ["brand"]
    search_fields = ["name", "slug", "brand__slug", "brand__name"]

    def get_fields(self, request: HttpRequest, obj: Product | None = None) -> tuple[str, ...]:
        fields = (
            "brand",
            "name",
            "slug",
            "default_max_seats",
            *SEAT_SETTINGS,
            "edd_item_id",
            "token_lifetime_seconds",
        )
        return fields if obj is None else (*fields, "created_at")

    def get_readonly_fields(
        self, request: HttpRequest, obj: Product | None = None
    ) -> tuple[str, ...]:
        return ("brand", "slug", "created_at") if obj is not None else ()

    def save_model(self, request: HttpRequest, obj: Product, form: ModelForm, change: bool) -> None:
        data = form.cleaned_data
        if not change:
            product = services.product_create(
                brand=data["brand"],
                name=data["name"],
                slug=data["slug"],
                default_max_seats=data["default_max_seats"],
                heartbeat_seconds=data["heartbeat_seconds"],
                non_production_limit=data["non_production_limit"],
                edd_item_id=data["edd_item_id"],
                token_lifetime_seconds=data["token_lifetime_seconds"],
                actor=_actor(request),
            )
            _adopt(obj, product)
        elif form.has_changed():
            services.product_update(
                product=obj,
                name=data["name"],
                default_max_seats=data["default_max_seats"],
                heartbeat_seconds=data["heartbeat_seconds"],
                non_production_limit=data["non_production_limit"],
                edd_item_id=data["edd_item_id"],
                token_lifetime_seconds=data["token_lifetime_seconds"],
                actor=_actor(request),
            )

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # licenses refer to products


# --- brand API keys ----------------------------------------------------------------------


class BrandApiKeyAddForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        choices=[(scope, scope) for scope in ALL_SCOPES],
        initial=DEFAULT_SCOPES,
        widget=forms.CheckboxSelectMultiple,
    )

    class Meta:
        model = BrandApiKey
        fields = ["brand", "name", "scopes"]


class RevokedFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("live", "live"), ("revoked", "revoked")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "live":
            return queryset.filter(revoked_at__isnull=True)
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        return queryset


VIEW_FIELDS = ("brand", "name", "prefix", "scope_list", "created_at", "last_used_at", "revoked_at")


@admin.register(BrandApiKey)
class BrandApiKeyAdmin(admin.ModelAdmin):
    """Keys are created (through ``api_key_create``) and revoked, never edited."""

    list_display = [
        "name",
        "brand",
        "prefix",
        "scope_list",
        "created_at",
        "last_used_at",
        "revoked_at",
    ]
    list_filter = [RevokedFilter, "brand"]
    list_select_related = ["brand"]
    search_fields = ["name", "prefix", "brand__slug", "brand__name"]
    fields = VIEW_FIELDS
    readonly_fields = VIEW_FIELDS
    actions = ["revoke"]

    @admin.display(description="scopes")
    def scope_list(self, obj: BrandApiKey) -> str:
        return ", ".join(obj.scopes)

    def get_form(
        self,
        request: HttpRequest,
        obj: BrandApiKey | None = None,
        change: bool = False,
        **kwargs: Any,
    ) -> type[ModelForm]:
        if obj is None:
            kwargs["form"] = BrandApiKeyAddForm
        return super().get_form(request, obj, change, **kwargs)

    def get_fields(self, request: HttpRequest, obj: BrandApiKey | None = None) -> tuple[str, ...]:
        return ("brand", "name", "scopes") if obj is None else VIEW_FIELDS

    def get_readonly_fields(
        self, request: HttpRequest, obj: BrandApiKey | None = None
    ) -> tuple[str, ...]:
        return () if obj is None else VIEW_FIELDS

    def save_model(
        self, request: HttpRequest, obj: BrandApiKey, form: ModelForm, change: bool
    ) -> None:
        if change:
            return  # nothing on a key is editable
        data = form.cleaned_data
        api_key, plain = services.api_key_create(
            brand=data["brand"],
            name=data["name"],
            scopes=list(data["scopes"]),
            actor=_actor(request),
        )
        _adopt(obj, api_key)
        obj.prefix = api_key.prefix
        obj.scopes = api_key.scopes
        messages.success(
            request,
            f"API key for {api_key.brand.slug}: {plain} — copy it now, it will not be shown again.",
        )

    @admin.action(description="Revoke selected API keys", permissions=["revoke"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[BrandApiKey]) -> None:
        revoked = 0
        for api_key in queryset.filter(revoked_at__isnull=True).order_by("pk"):
            services.api_key_revoke(api_key=api_key, actor=_actor(request))
            revoked += 1
        self.message_user(request, f"Revoked {revoked} API key(s).", messages.SUCCESS)

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("brands.change_brandapikey")

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # view only: revoke with the action

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # revoke instead: the audit trail refers to the key

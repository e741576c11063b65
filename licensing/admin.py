"""Admin for license keys and licenses: the staff console (SPEC §9, §15).

Nothing here writes a row: every change is a button on a license's (or key's) page, a small
confirmation form served by a view of this admin (``get_urls``), checked against the Django
permission it needs (``licensing.suspend_license``, …: migration 0004 gives them to the
groups ``support`` and ``billing``), that calls the same ``licensing.services`` function as
the brand API (audit row and check-cache invalidation included); a refusal of the service
comes back as an error on the form. The bulk actions of the list do the same per license.
Activations are shown inline, and released, by ``activations.admin`` (which depends on this
app, not the other way round).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from audit.display import events_table
from audit.models import AuditEvent
from audit.selectors import audit_events_for_license
from audit.services import Actor
from brands.selectors import signing_keys_published
from license_service.admin import ReadOnlyAdmin, ReadOnlyInline, page_panels
from license_service.errors import DomainError
from licensing.expiry import TOO_FAR, expiry_refused, years_after
from licensing.forms import (
    ConfirmForm,
    EmailForm,
    IssueForm,
    RenewForm,
    SeatsForm,
    add_domain_error,
    end_of_day,
)
from licensing.keys import canonical_license_key, key_display_prefix, key_masked
from licensing.models import License, LicenseKey
from licensing.seats import seat_q
from licensing.services import (
    UNSET,
    idempotent_call,
    license_cancel,
    license_key_change_email,
    license_provision,
    license_renew,
    license_resume,
    license_set_seats,
    license_suspend,
)

AUDIT_TRAIL_ROWS = 50


def _actor(request: HttpRequest) -> Actor:
    return Actor.staff(request.user.get_username())


def one_year_after(moment: datetime) -> datetime:
    """The same date a year later (28 February for 29 February). Raises OverflowError
    past year 9999."""
    return years_after(moment, 1)


def renewal_expiry(expires_at: datetime, now: datetime) -> datetime:
    """One year from now or from the current expiry, whichever is later: renewing early
    never shortens what the customer already has. Raises ValidationFailed when that is
    past the last date there is (the service refuses one past the horizon)."""
    try:
        return one_year_after(max(expires_at, now))
    except OverflowError:
        raise expiry_refused(TOO_FAR) from None


class _KeySearchReadOnlyAdmin(ReadOnlyAdmin):
    """Search also finds a key typed the way customers do: lower case, no dashes, O for 0."""

    key_lookup = "key"

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[Any], bool]:
        canonical = canonical_license_key(search_term)
        if canonical is not None:
            # A term that passes the key checksum is a key: nothing else can mean it.
            return queryset.filter(**{self.key_lookup: canonical}), False
        return super().get_search_results(request, queryset, search_term)


# --- reading: badges, masked keys, filters ------------------------------------------------

BADGE_CLASSES = {
    License.Status.VALID: "ls-valid",
    License.EXPIRED: "ls-expired",
    License.Status.SUSPENDED: "ls-suspended",
    License.Status.CANCELLED: "ls-cancelled",
}


def status_badge(status: str) -> SafeString:
    """The effective status as a coloured badge that says it in words too (colour is never
    the only sign)."""
    return format_html('<span class="ls-badge {}">{}</span>', BADGE_CLASSES.get(status, ""), status)


class EffectiveStatusFilter(admin.SimpleListFilter):
    """By effective status (SPEC §2): ``expired`` is a valid license past its date, never
    stored; ``valid`` excludes those."""

    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(status, status) for status in BADGE_CLASSES]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        now = timezone.now()
        live = Q(expires_at__isnull=True) | Q(expires_at__gt=now)
        value = self.value()
        if value == License.Status.VALID:
            return queryset.filter(Q(status=License.Status.VALID) & live)
        if value == License.EXPIRED:
            return queryset.filter(status=License.Status.VALID, expires_at__lte=now)
        if value in (License.Status.SUSPENDED, License.Status.CANCELLED):
            return queryset.filter(status=value)
        return queryset


@dataclass(frozen=True, slots=True)
class Button:
    """A button of the console: a link to its confirmation form."""

    label: str
    url: str
    danger: bool = False


def has_console_permission(request: HttpRequest, codename: str) -> bool:
    return bool(request.user.has_perm(f"licensing.{codename}"))


class ConsoleViews(admin.ModelAdmin):
    """The confirmation-form views of a console page: one GET shows the form, one POST
    runs one service; a refusal re-renders the form with its errors (never a 500)."""

    change_form_template = "admin/licensing/console_change_form.html"

    class Media:
        css = {"all": ["licensing/console.css"]}

    def console_buttons(self, request: HttpRequest, obj: Any) -> list[Button]:
        return []

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        obj = self.get_object(request, object_id)
        extra = {**(extra_context or {})}
        if obj is not None and self.has_view_or_change_permission(request, obj):
            extra["console_buttons"] = self.console_buttons(request, obj)
            extra["console_panels"] = [
                (panel.title, panel.render(request, obj))
                for panel in page_panels(self.opts.label_lower)
            ]
        return super().change_view(request, object_id, form_url, extra)

    def _url(self, name: str, *args: Any) -> str:
        opts = self.opts
        return reverse(f"admin:{opts.app_label}_{opts.model_name}_{name}", args=args)

    def console_url(self, view: str) -> URLPattern:
        """The URL of one console view of an object: ``<id>/<view>/``."""
        opts = self.opts
        pattern: URLPattern = path(
            f"<path:object_id>/{view}/",
            self.admin_site.admin_view(getattr(self, f"{view}_view")),
            name=f"{opts.app_label}_{opts.model_name}_{view}",
        )
        return pattern

    def console_form(  # noqa: PLR0913 (one call per button: each says what it needs)
        self,
        request: HttpRequest,
        object_id: str,
        *,
        codename: str,
        form_class: type[forms.Form],
        title: str,
        button: str,
        perform: Callable[[Any, forms.Form, Actor], str],
        intro: str = "",
        initial: Callable[[Any], dict[str, Any]] | None = None,
        form_kwargs: Callable[[Any], dict[str, Any]] | None = None,
    ) -> HttpResponse:
        obj = self.get_object(request, object_id)
        if obj is None:
            raise Http404("No such object.")
        if not has_console_permission(request, codename):
            raise PermissionDenied
        kwargs = form_kwargs(obj) if form_kwargs else {}
        if request.method == "POST":
            form = form_class(request.POST, **kwargs)
            if form.is_valid():
                try:
                    done = perform(obj, form, Actor.staff(request.user.get_username()))
                except DomainError as exc:
                    add_domain_error(form, exc)
                else:
                    self.message_user(request, done, messages.SUCCESS)
                    return HttpResponseRedirect(self._url("change", obj.pk))
        else:
            form = form_class(initial=initial(obj) if initial else None, **kwargs)
        return self.render_console_form(
            request, form=form, title=title, button=button, intro=intro, obj=obj
        )

    def render_console_form(  # noqa: PLR0913 (keyword-only: what the page shows)
        self,
        request: HttpRequest,
        *,
        form: forms.Form,
        title: str,
        button: str,
        intro: str = "",
        obj: Any = None,
    ) -> TemplateResponse:
        back = self._url("change", obj.pk) if obj is not None else self._url("changelist")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": obj,
            "title": title,
            "subtitle": str(obj) if obj is not None else None,
            "intro": intro,
            "summary": self.console_summary(obj) if obj is not None else [],
            "form": form,
            "button": button,
            "back_url": back,
            "media": self.media + form.media,
        }
        return TemplateResponse(request, "admin/licensing/console_form.html", context)

    def console_summary(self, obj: Any) -> list[tuple[str, Any]]:
        return []


# --- license keys --------------------------------------------------------------------------


class LicenseInline(ReadOnlyInline):
    model = License
    fields = ("product", "effective", "expires_at", "max_seats", "created_at")
    readonly_fields = fields

    @admin.display(description="status")
    def effective(self, obj: License) -> SafeString:
        return status_badge(obj.effective_status())

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(LicenseKey)
class LicenseKeyAdmin(ConsoleViews, _KeySearchReadOnlyAdmin):
    """Keys are issued by provisioning (brand API, or "Issue a license" here). The full key
    shows on its own page only: lists show it masked."""

    list_display = ["masked_key", "customer_email", "brand", "created_at"]
    list_display_links = ["masked_key"]
    list_filter = [("brand", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["brand"]
    search_fields = ["key", "customer_email", "brand__slug", "brand__name"]
    fields = ("key", "customer_email", "brand", "created_at", "audit_trail")
    readonly_fields = fields
    inlines = [LicenseInline]

    @admin.display(description="key", ordering="key")
    def masked_key(self, obj: LicenseKey) -> str:
        return key_masked(obj.key)

    @admin.display(description="audit trail (newest first)")
    def audit_trail(self, obj: LicenseKey) -> SafeString:
        events = AuditEvent.objects.filter(target_type="license_key", target_id=str(obj.pk))
        return events_table(events.order_by("-created_at", "-id")[:AUDIT_TRAIL_ROWS])

    def get_urls(self) -> list[URLPattern]:
        return [self.console_url("email"), *super().get_urls()]

    def console_buttons(self, request: HttpRequest, obj: LicenseKey) -> list[Button]:
        if not has_console_permission(request, "change_customer_email"):
            return []
        return [Button("Correct e-mail", self._url("email", obj.pk))]

    def console_summary(self, obj: LicenseKey) -> list[tuple[str, Any]]:
        return [("key", key_masked(obj.key)), ("brand", obj.brand.slug)]

    def email_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        def perform(key: LicenseKey, form: forms.Form, actor: Actor) -> str:
            before = key.customer_email
            key = license_key_change_email(
                license_key=key, customer_email=form.cleaned_data["customer_email"], actor=actor
            )
            return f"E-mail of {key_masked(key.key)} changed from {before} to {key.customer_email}."

        return self.console_form(
            request,
            object_id,
            codename="change_customer_email",
            form_class=EmailForm,
            title="Correct the customer's e-mail",
            button="Change e-mail",
            intro="Every license on this key follows the key: the customer keeps the key, its "
            "licenses and seats.",
            perform=perform,
            initial=lambda key: {"customer_email": key.customer_email},
        )


# --- licenses ------------------------------------------------------------------------------


def _request_hash(data: dict[str, Any]) -> str:
    body = json.dumps(data, sort_keys=True, default=str)
    return hashlib.sha256(body.encode()).hexdigest()


@admin.register(License)
class LicenseAdmin(ConsoleViews, _KeySearchReadOnlyAdmin):
    key_lookup = "license_key__key"
    change_list_template = "admin/licensing/license/change_list.html"

    list_display = [
        "masked_key",
        "customer_email",
        "brand",
        "product_slug",
        "effective",
        "expiry",
        "seats",
    ]
    list_display_links = ["masked_key"]
    list_filter = [
        EffectiveStatusFilter,
        ("product__brand", admin.RelatedOnlyFieldListFilter),
        "product",
    ]
    list_select_related = ["license_key", "product", "product__brand"]
    search_fields = [
        "license_key__key",
        "license_key__customer_email",
        "product__brand__slug",
        "product__brand__name",
        "product__slug",
        "product__name",
        "=status",
    ]
    fields = (
        "key_link",
        "customer_email",
        "brand",
        "product",
        "effective",
        "expires_at",
        "seats",
        "created_at",
        "updated_at",
        "signing_keys",
        "audit_trail",
    )
    readonly_fields = fields
    actions = ["suspend", "resume", "cancel", "renew"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[License]:
        queryset: QuerySet[License] = super().get_queryset(request)
        # Seats as SPEC §10 counts them: live production activations.
        return queryset.select_related("license_key", "product__brand").annotate(
            seats_used=Count(
                "activations", filter=seat_q(timezone.now(), prefix="activations__"), distinct=True
            )
        )

    # --- columns and fields ---

    @admin.display(description="key", ordering="license_key__key")
    def masked_key(self, obj: License) -> str:
        return key_masked(obj.license_key.key)

    @admin.display(description="license key")
    def key_link(self, obj: License) -> SafeString:
        url = reverse("admin:licensing_licensekey_change", args=[obj.license_key_id])
        return format_html('<a href="{}">{}</a>', url, obj.license_key.key)

    @admin.display(description="customer email", ordering="license_key__customer_email")
    def customer_email(self, obj: License) -> str:
        return obj.license_key.customer_email

    @admin.display(description="brand", ordering="product__brand__slug")
    def brand(self, obj: License) -> str:
        return obj.product.brand.slug

    @admin.display(description="product", ordering="product__slug")
    def product_slug(self, obj: License) -> str:
        return obj.product.slug

    @admin.display(description="status", ordering="status")
    def effective(self, obj: License) -> SafeString:
        return status_badge(obj.effective_status())

    @admin.display(description="expires", ordering="expires_at")
    def expiry(self, obj: License) -> str:
        if obj.expires_at is None:
            return "lifetime"
        return timezone.localtime(obj.expires_at).strftime("%Y-%m-%d")

    @admin.display(description="seats used / max")
    def seats(self, obj: License) -> str:
        limit = "unlimited" if obj.max_seats is None else str(obj.max_seats)
        return f"{getattr(obj, 'seats_used', '?')} / {limit}"

    @admin.display(description="token signing keys")
    def signing_keys(self, obj: License) -> SafeString:
        """The brand keys a verifier accepts this license's tokens from (SPEC §12): the
        current one signs them, a retired one until its last token expires."""
        brand = obj.product.brand
        keys = signing_keys_published(brand=brand)
        url = reverse("admin:brands_brand_change", args=[brand.pk])
        described = format_html_join(
            ", ",
            "<code>{}</code> ({})",
            (
                (
                    key.kid,
                    "signs new tokens"
                    if key.retired_at is None
                    else f"retired, its tokens valid until {key.signed_until:%Y-%m-%d %H:%M}",
                )
                for key in keys
            ),
        )
        return format_html(
            '{} · <a href="{}">{}\'s signing keys</a>',
            described or "none yet (the brand's first token makes one)",
            url,
            brand.slug,
        )

    @admin.display(description="audit trail (newest first)")
    def audit_trail(self, obj: License) -> SafeString:
        events = audit_events_for_license(license_id=obj.pk, license_key_id=obj.license_key_id)
        everything = reverse("admin:audit_auditevent_changelist") + f"?license_id={obj.pk}"
        return format_html(
            '{}<p><a href="{}">All events of this license</a></p>',
            events_table(
                events[:AUDIT_TRAIL_ROWS], key_prefix=key_display_prefix(obj.license_key.key)
            ),
            everything,
        )

    # --- the buttons ---

    def get_urls(self) -> list[URLPattern]:
        opts = self.opts
        issue = path(
            "issue/",
            self.admin_site.admin_view(self.issue_view),
            name=f"{opts.app_label}_{opts.model_name}_issue",
        )
        views = ("suspend", "resume", "cancel", "renew", "seats")
        return [issue, *(self.console_url(view) for view in views), *super().get_urls()]

    def console_buttons(self, request: HttpRequest, obj: License) -> list[Button]:
        buttons = []
        status = obj.status

        def may(codename: str) -> bool:
            return has_console_permission(request, codename)

        if status != License.Status.CANCELLED and may("renew_license"):
            buttons.append(Button("Renew", self._url("renew", obj.pk)))
        if status != License.Status.CANCELLED and may("change_seats"):
            buttons.append(Button("Change seats", self._url("seats", obj.pk)))
        if status == License.Status.VALID and may("suspend_license"):
            buttons.append(Button("Suspend", self._url("suspend", obj.pk)))
        if status == License.Status.SUSPENDED and may("suspend_license"):
            buttons.append(Button("Resume", self._url("resume", obj.pk)))
        if may("change_customer_email"):
            url = reverse("admin:licensing_licensekey_email", args=[obj.license_key_id])
            buttons.append(Button("Correct e-mail", url))
        if status != License.Status.CANCELLED and may("cancel_license"):
            buttons.append(Button("Cancel license", self._url("cancel", obj.pk), danger=True))
        return buttons

    def console_summary(self, obj: License) -> list[tuple[str, Any]]:
        return [
            ("customer", obj.license_key.customer_email),
            ("status", status_badge(obj.effective_status())),
            ("expires", self.expiry(obj)),
            ("seats used / max", self.seats(obj)),
        ]

    def _transition(  # noqa: PLR0913 (keyword-only: what each button says and calls)
        self,
        request: HttpRequest,
        object_id: str,
        *,
        codename: str,
        service: Callable[..., License],
        title: str,
        button: str,
        done: str,
        intro: str = "",
    ) -> HttpResponse:
        def perform(license_: License, form: forms.Form, actor: Actor) -> str:
            service(license_=license_, actor=actor)
            return f"{done} {license_}."

        return self.console_form(
            request,
            object_id,
            codename=codename,
            form_class=ConfirmForm,
            title=title,
            button=button,
            intro=intro,
            perform=perform,
        )

    def suspend_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return self._transition(
            request,
            object_id,
            codename="suspend_license",
            service=license_suspend,
            title="Suspend this license",
            button="Suspend",
            done="Suspended",
            intro="Its sites stop getting a valid answer until it is resumed. Seats stay taken.",
        )

    def resume_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return self._transition(
            request,
            object_id,
            codename="suspend_license",
            service=license_resume,
            title="Resume this license",
            button="Resume",
            done="Resumed",
            intro="It becomes valid again (or expired, if its date has passed).",
        )

    def cancel_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return self._transition(
            request,
            object_id,
            codename="cancel_license",
            service=license_cancel,
            title="Cancel this license",
            button="Cancel the license",
            done="Cancelled",
            intro="Final: a cancelled license cannot be renewed or resumed, and every one of "
            "its activations is released.",
        )

    def renew_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        def perform(license_: License, form: forms.Form, actor: Actor) -> str:
            expires_at = end_of_day(form.cleaned_data["expires_on"])
            license_ = license_renew(license_=license_, expires_at=expires_at, actor=actor)
            return f"Renewed {license_} until {self.expiry(license_)}."

        def initial(license_: License) -> dict[str, Any]:
            try:
                suggested = renewal_expiry(license_.expires_at or timezone.now(), timezone.now())
            except DomainError:
                return {}
            return {"expires_on": timezone.localtime(suggested).date()}

        return self.console_form(
            request,
            object_id,
            codename="renew_license",
            form_class=RenewForm,
            title="Renew this license",
            button="Renew",
            intro="A suspended license stays suspended; an expired one becomes valid.",
            perform=perform,
            initial=initial,
        )

    def seats_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        def perform(license_: License, form: forms.Form, actor: Actor) -> str:
            license_ = license_set_seats(
                license_=license_, max_seats=form.cleaned_data["max_seats"], actor=actor
            )
            limit = "unlimited" if license_.max_seats is None else license_.max_seats
            return f"Seats of {license_}: {limit}."

        return self.console_form(
            request,
            object_id,
            codename="change_seats",
            form_class=SeatsForm,
            title="Change the seats of this license",
            button="Change seats",
            perform=perform,
            initial=lambda lic: {"max_seats": lic.max_seats, "unlimited": lic.max_seats is None},
        )

    def issue_view(self, request: HttpRequest) -> HttpResponse:
        """US1 from the admin: ``license_provision`` through ``idempotent_call``, keyed by the
        form's token, so a form sent twice issues one license."""
        if not has_console_permission(request, "issue_license"):
            raise PermissionDenied
        if request.method == "POST":
            form = IssueForm(request.POST)
            if form.is_valid():
                try:
                    license_id, replayed = self._issue(request, form)
                except DomainError as exc:
                    add_domain_error(form, exc)
                else:
                    issued = License.objects.select_related("license_key", "product").get(
                        pk=license_id
                    )
                    note = " (this form had been sent already)" if replayed else ""
                    self.message_user(
                        request,
                        f"Issued {issued.product.slug} to {issued.license_key.customer_email} "
                        f"on key {issued.license_key.key}{note}.",
                        messages.SUCCESS,
                    )
                    return HttpResponseRedirect(self._url("change", license_id))
        else:
            form = IssueForm()
        return self.render_console_form(
            request,
            form=form,
            title="Issue a license",
            button="Issue",
            intro="As a brand's provisioning does (US1): the key is the one given, a new one, "
            "or the customer's existing key at the product's brand.",
        )

    def _issue(self, request: HttpRequest, form: IssueForm) -> tuple[int, bool]:
        data = form.cleaned_data
        product = data["product"]
        max_seats: int | None = UNSET
        if data["unlimited"]:
            max_seats = None
        elif data["max_seats"] is not None:
            max_seats = data["max_seats"]
        actor = Actor.staff(request.user.get_username())

        def perform() -> tuple[int, dict[str, Any]]:
            license_ = license_provision(
                brand=product.brand,
                customer_email=data["customer_email"],
                product_slug=product.slug,
                actor=actor,
                expires_at=form.expires_at(),
                max_seats=max_seats,
                license_key=data["license_key"] or None,
                new_key=data["new_key"],
            )
            return 201, {"license_id": license_.pk}

        fields = {k: v for k, v in data.items() if k not in ("token", "product")}
        _, body, replayed = idempotent_call(
            brand=product.brand,
            idempotency_key=f"admin:{data['token']}",
            request_hash=_request_hash({**fields, "product": product.pk}),
            perform=perform,
        )
        return int(body["license_id"]), replayed

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        extra = {**(extra_context or {})}
        if has_console_permission(request, "issue_license"):
            extra["issue_url"] = self._url("issue")
        return super().changelist_view(request, extra)

    # --- bulk actions: one service call per license, refusals reported per license ---

    def _apply(
        self,
        request: HttpRequest,
        queryset: QuerySet[License],
        done: str,
        change: Callable[[License], License | None],
    ) -> None:
        changed = 0
        for license_ in queryset.order_by("pk"):
            try:
                if change(license_) is not None:
                    changed += 1
            except DomainError as exc:
                self.message_user(request, f"License {license_.pk}: {exc.message}", messages.ERROR)
        if changed:
            self.message_user(request, f"{done} {changed} license(s).", messages.SUCCESS)

    @admin.action(description="Suspend", permissions=["suspend"])
    def suspend(self, request: HttpRequest, queryset: QuerySet[License]) -> None:
        actor = _actor(request)
        self._apply(
            request, queryset, "Suspended", lambda lic: license_suspend(license_=lic, actor=actor)
        )

    @admin.action(description="Resume", permissions=["suspend"])
    def resume(self, request: HttpRequest, queryset: QuerySet[License]) -> None:
        actor = _actor(request)
        self._apply(
            request, queryset, "Resumed", lambda lic: license_resume(license_=lic, actor=actor)
        )

    @admin.action(description="Cancel (final; frees their seats)", permissions=["cancel"])
    def cancel(self, request: HttpRequest, queryset: QuerySet[License]) -> None:
        actor = _actor(request)
        self._apply(
            request, queryset, "Cancelled", lambda lic: license_cancel(license_=lic, actor=actor)
        )

    @admin.action(description="Renew for one year", permissions=["renew"])
    def renew(self, request: HttpRequest, queryset: QuerySet[License]) -> None:
        """A year from now or from the current expiry, whichever is later; lifetime licenses
        are left alone (a chosen date: the Renew button of each license)."""
        actor = _actor(request)
        now = timezone.now()

        def renew_one(license_: License) -> License | None:
            if license_.expires_at is None:
                self.message_user(
                    request,
                    f"License {license_.pk}: lifetime license, nothing to renew.",
                    messages.WARNING,
                )
                return None
            return license_renew(
                license_=license_, expires_at=renewal_expiry(license_.expires_at, now), actor=actor
            )

        self._apply(request, queryset, "Renewed", renew_one)

    def has_suspend_permission(self, request: HttpRequest) -> bool:
        return has_console_permission(request, "suspend_license")

    def has_cancel_permission(self, request: HttpRequest) -> bool:
        return has_console_permission(request, "cancel_license")

    def has_renew_permission(self, request: HttpRequest) -> bool:
        return has_console_permission(request, "renew_license")

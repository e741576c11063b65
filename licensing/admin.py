"""Admin for license keys and licenses.

Nothing here writes a row: a license's state changes only through the admin actions, which
call the same ``licensing.services`` functions as the brand API (audit row and check-cache
invalidation included). The change form is read-only. Activations are shown inline by
``activations.admin`` (which depends on this app, not the other way round).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.contrib import admin, messages
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from audit.selectors import audit_events_for_license
from audit.services import Actor
from license_service.admin import ReadOnlyAdmin, ReadOnlyInline
from license_service.errors import DomainError
from licensing.expiry import TOO_FAR, expiry_refused, years_after
from licensing.keys import canonical_license_key
from licensing.models import License, LicenseKey
from licensing.seats import seat_q
from licensing.services import license_cancel, license_renew, license_resume, license_suspend

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


class LicenseInline(ReadOnlyInline):
    model = License
    fields = ("product", "status", "effective", "expires_at", "max_seats", "created_at")
    readonly_fields = fields

    @admin.display(description="effective status")
    def effective(self, obj: License) -> str:
        return obj.effective_status()

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(LicenseKey)
class LicenseKeyAdmin(_KeySearchReadOnlyAdmin):
    """Keys are issued by provisioning (brand API)."""

    list_display = ["key", "customer_email", "brand", "created_at"]
    list_filter = ["brand"]
    list_select_related = ["brand"]
    search_fields = ["key", "customer_email", "brand__slug", "brand__name"]
    fields = ("key", "customer_email", "brand", "created_at")
    readonly_fields = fields
    inlines = [LicenseInline]


@admin.register(License)
class LicenseAdmin(_KeySearchReadOnlyAdmin):
    key_lookup = "license_key__key"

    list_display = [
        "id",
        "license_key",
        "customer_email",
        "brand",
        "product",
        "status",
        "effective",
        "expires_at",
        "seats",
    ]
    list_filter = ["status", ("product__brand", admin.RelatedOnlyFieldListFilter), "product"]
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
        "license_key",
        "customer_email",
        "brand",
        "product",
        "status",
        "effective",
        "expires_at",
        "seats",
        "created_at",
        "updated_at",
        "audit_trail",
    )
    readonly_fields = fields
    actions = ["suspend", "resume", "cancel", "renew"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[License]:
        queryset: QuerySet[License] = super().get_queryset(request)
        # Seats as SPEC §10 counts them: live production activations.
        return queryset.annotate(
            seats_used=Count(
                "activations", filter=seat_q(timezone.now(), prefix="activations__"), distinct=True
            )
        )

    @admin.display(description="customer email", ordering="license_key__customer_email")
    def customer_email(self, obj: License) -> str:
        return obj.license_key.customer_email

    @admin.display(description="brand", ordering="product__brand__slug")
    def brand(self, obj: License) -> str:
        return obj.product.brand.slug

    @admin.display(description="effective status")
    def effective(self, obj: License) -> str:
        return obj.effective_status()

    @admin.display(description="seats used / max")
    def seats(self, obj: License) -> str:
        limit = "unlimited" if obj.max_seats is None else str(obj.max_seats)
        return f"{getattr(obj, 'seats_used', '?')} / {limit}"

    @admin.display(description="audit trail (newest first)")
    def audit_trail(self, obj: License) -> SafeString:
        events = list(audit_events_for_license(license_id=obj.pk)[:AUDIT_TRAIL_ROWS])
        if not events:
            return format_html("<p>{}</p>", "No events.")
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}: {}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    timezone.localtime(e.created_at).isoformat(timespec="seconds"),
                    e.action,
                    e.actor_type,
                    e.actor,
                    e.request_id,
                    e.before or "",
                    e.after or "",
                )
                for e in events
            ),
        )
        everything = reverse("admin:audit_auditevent_changelist") + f"?license_id={obj.pk}"
        return format_html(
            "<table><thead><tr><th>when</th><th>action</th><th>actor</th><th>request id</th>"
            "<th>before</th><th>after</th></tr></thead><tbody>{}</tbody></table>"
            '<p><a href="{}">All events of this license</a></p>',
            rows,
            everything,
        )

    # --- lifecycle actions: one service call per license, refusals reported per license ---

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

    @admin.action(description="Suspend selected licenses", permissions=["lifecycle"])
    def suspend(self, request: HttpRequest, queryset: QuerySet[License]) -> None:
        actor = _actor(request)
        self._apply(
            request, queryset, "Suspended", lambda lic: license_suspend(license_=lic, actor=actor)
        )

    @admin.action(description="Resume selected licenses", permissions=["lifecycle"])
    def resume(self, request: HttpRequest, queryset: QuerySet[License]) -> None:
        actor = _actor(request)
        self._apply(
            request, queryset, "Resumed", lambda lic: license_resume(license_=lic, actor=actor)
        )

    @admin.action(
        description="Cancel selected licenses (final; releases their seats)",
        permissions=["lifecycle"],
    )
    def cancel(self, request: HttpRequest, queryset: QuerySet[License]) -> None:
        actor = _actor(request)
        self._apply(
            request, queryset, "Cancelled", lambda lic: license_cancel(license_=lic, actor=actor)
        )

    @admin.action(
        description="Renew selected licenses for one year, from now or from the current "
        "expiry, whichever is later (lifetime licenses are left alone)",
        permissions=["lifecycle"],
    )
    def renew(self, request: HttpRequest, queryset: QuerySet[License]) -> None:
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

    def has_lifecycle_permission(self, request: HttpRequest) -> bool:
        # The change form is read-only for everyone; the model's change permission is what
        # allows lifecycle actions.
        return request.user.has_perm("licensing.change_license")

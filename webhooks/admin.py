"""Admin for webhooks (SPEC §13): endpoints with their delivery log, and actions that call
the same services as the brand API (audit row included, the staff user as actor).
Endpoints are added through the brand API (it shows the secret once); the admin never
shows a secret.

A license's page shows the deliveries of its events (SPEC §15) through a panel this module
registers (``license_service.admin.page_panel_register``): webhooks imports no licensing
(imports point down) and licensing no webhooks, so the room that owns the deliveries
renders them and the license page only shows what it is given."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
)
from django.middleware.csrf import get_token
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import SafeString

from audit.services import Actor
from license_service.admin import PagePanel, ReadOnlyAdmin, ReadOnlyInline, page_panel_register
from license_service.errors import DomainError
from webhooks import services
from webhooks.models import WebhookDelivery, WebhookEndpoint
from webhooks.selectors import deliveries_for_license

INLINE_DELIVERIES = 50
# A license's page shows its latest deliveries; the rest are on the filtered list.
LICENSE_PANEL_DELIVERIES = 20
RETRY_PERMISSION = "webhooks.retry_webhookdelivery"
# A license id in a URL: a BigIntegerField holds 18 digits whatever they are.
MAX_ID_DIGITS = 18
DELIVERY_FIELDS = (
    "event_type",
    "message_id",
    "status",
    "attempts",
    "last_status_code",
    "last_duration_ms",
    "last_error",
    "next_attempt_at",
    "created_at",
    "delivered_at",
)


def _actor(request: HttpRequest) -> Actor:
    return Actor.staff(request.user.get_username())


class DeliveryInline(ReadOnlyInline):
    model = WebhookDelivery
    fields = DELIVERY_FIELDS
    readonly_fields = DELIVERY_FIELDS
    ordering = ["-id"]
    max_num = 0

    def get_formset(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> Any:
        # Django asks for the formset (with the endpoint) before its queryset (without).
        request.webhook_endpoint = obj  # type: ignore[attr-defined]
        return super().get_formset(request, obj, **kwargs)

    def get_queryset(self, request: HttpRequest) -> QuerySet[WebhookDelivery]:
        # The newest 50 of this endpoint: its full log is on the deliveries page.
        endpoint = getattr(request, "webhook_endpoint", None)
        newest = WebhookDelivery.objects.filter(endpoint=endpoint).order_by("-id")
        ids = list(newest.values_list("pk", flat=True)[:INLINE_DELIVERIES])
        return super().get_queryset(request).filter(pk__in=ids).order_by("-id")


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(ReadOnlyAdmin):
    list_display = ["url", "brand", "enabled", "failing_since", "disabled_at", "created_at"]
    list_filter = ["enabled", ("brand", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["brand"]
    search_fields = ["url", "description", "brand__slug"]
    fields = (
        "brand",
        "url",
        "events",
        "description",
        "enabled",
        "created_at",
        "failing_since",
        "disabled_at",
    )
    readonly_fields = fields
    inlines = [DeliveryInline]
    actions = ["enable", "disable", "send_test"]

    def _each(
        self,
        request: HttpRequest,
        queryset: QuerySet[WebhookEndpoint],
        call: Callable[[WebhookEndpoint], object],
        done: str,
    ) -> None:
        n = 0
        for endpoint in queryset:
            try:
                call(endpoint)
                n += 1
            except DomainError as exc:
                self.message_user(request, f"{endpoint}: {exc.message}", messages.ERROR)
        self.message_user(request, f"{n} endpoint(s) {done}.", messages.SUCCESS)

    @admin.action(description="Enable (clears the failure record)")
    def enable(self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]) -> None:
        self._each(
            request,
            queryset,
            lambda e: services.webhook_endpoint_update(
                endpoint=e, actor=_actor(request), enabled=True
            ),
            "enabled",
        )

    @admin.action(description="Disable")
    def disable(self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]) -> None:
        self._each(
            request,
            queryset,
            lambda e: services.webhook_endpoint_update(
                endpoint=e, actor=_actor(request), enabled=False
            ),
            "disabled",
        )

    @admin.action(description="Send a webhook.test event")
    def send_test(self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]) -> None:
        self._each(
            request,
            queryset,
            lambda e: services.webhook_endpoint_test(endpoint=e, actor=_actor(request)),
            "sent a test event",
        )


class LicenseFilter(admin.SimpleListFilter):
    """``?license_id=<id>``: the deliveries of one license's events (the link from a
    license's page). Shown only while in use: nobody browses by license id."""

    title = "license"
    parameter_name = "license_id"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        value = self.value()
        return [(value, f"license {value}")] if value else []

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if value is None:
            return queryset
        if not (value.isascii() and value.isdigit() and len(value) <= MAX_ID_DIGITS):
            return queryset.none()
        return queryset.filter(event__license_id=int(value))


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = [
        "message_id",
        "event_type",
        "endpoint",
        "status",
        "attempts",
        "last_status_code",
        "next_attempt_at",
        "created_at",
    ]
    list_filter = [
        "status",
        "event_type",
        ("endpoint__brand", admin.RelatedOnlyFieldListFilter),
        LicenseFilter,
    ]
    list_select_related = ["endpoint"]
    search_fields = ["message_id", "endpoint__url"]
    fields = ("endpoint", "event", *DELIVERY_FIELDS, "last_attempt_at")
    readonly_fields = fields
    actions = ["retry"]

    @admin.action(description="Retry now (same webhook-id)", permissions=["retry"])
    def retry(self, request: HttpRequest, queryset: QuerySet[WebhookDelivery]) -> None:
        for delivery in queryset:
            services.webhook_delivery_retry(delivery=delivery, actor=_actor(request))
        self.message_user(
            request, f"{queryset.count()} delivery(ies) queued again.", messages.SUCCESS
        )

    def has_retry_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm(RETRY_PERMISSION))

    def get_urls(self) -> list[URLPattern]:
        retry = path(
            "<path:object_id>/retry/",
            self.admin_site.admin_view(self.retry_view),
            name="webhooks_webhookdelivery_retry",
        )
        return [retry, *super().get_urls()]

    def retry_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """The retry button of one delivery (a license's page): POST only, the same service
        as the list's action; back to ``next`` (this site only) or the delivery's page."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_retry_permission(request):
            raise PermissionDenied
        delivery = self.get_object(request, object_id)
        if delivery is None:
            raise Http404("No such delivery.")
        services.webhook_delivery_retry(delivery=delivery, actor=_actor(request))
        self.message_user(
            request, f"Delivery {delivery.message_id} queued again.", messages.SUCCESS
        )
        back = request.POST.get("next", "")
        if not url_has_allowed_host_and_scheme(
            back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            back = reverse("admin:webhooks_webhookdelivery_change", args=[delivery.pk])
        return HttpResponseRedirect(back)


# --- a license's deliveries, on its page ---------------------------------------------------


def _when(moment: Any) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M") if moment else "—"


def license_deliveries_panel(request: HttpRequest, license_: Any) -> SafeString:
    """The latest ``LICENSE_PANEL_DELIVERIES`` deliveries of the license's events (one
    query), each linked to its page, with a retry button for staff who may retry; and a
    link to all of them on the delivery list."""
    if not request.user.has_perm("webhooks.view_webhookdelivery"):
        return format_html("<p>{}</p>", "You may not read webhook deliveries.")
    deliveries = list(deliveries_for_license(license_.pk)[:LICENSE_PANEL_DELIVERIES])
    everything = reverse("admin:webhooks_webhookdelivery_changelist") + f"?license_id={license_.pk}"
    link = format_html('<p><a href="{}">All deliveries of this license</a></p>', everything)
    if not deliveries:
        return format_html("<p>{}</p>{}", "No webhook deliveries of this license's events.", link)
    may_retry = request.user.has_perm(RETRY_PERMISSION)
    token = get_token(request) if may_retry else ""
    here = request.get_full_path()

    def retry_button(delivery: WebhookDelivery) -> SafeString:
        if not may_retry:
            return SafeString("")
        return format_html(
            '<form method="post" action="{}" class="console-inline-form">'
            '<input type="hidden" name="csrfmiddlewaretoken" value="{}">'
            '<input type="hidden" name="next" value="{}">'
            '<button type="submit" class="console-button">Retry</button></form>',
            reverse("admin:webhooks_webhookdelivery_retry", args=[delivery.pk]),
            token,
            here,
        )

    rows = format_html_join(
        "",
        '<tr><td class="delivery-url">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>'
        '<td>{}</td><td><a href="{}">{}</a></td><td>{}</td></tr>',
        (
            (
                delivery.endpoint.url,
                delivery.event_type,
                delivery.status
                + (f" (HTTP {delivery.last_status_code})" if delivery.last_status_code else ""),
                delivery.attempts,
                _when(delivery.last_attempt_at),
                _when(delivery.next_attempt_at)
                if delivery.status == WebhookDelivery.Status.PENDING
                else "—",
                reverse("admin:webhooks_webhookdelivery_change", args=[delivery.pk]),
                delivery.message_id,
                retry_button(delivery),
            )
            for delivery in deliveries
        ),
    )
    return format_html(
        '<table class="license-deliveries"><thead><tr><th>endpoint</th><th>event</th>'
        "<th>status</th><th>attempts</th><th>last attempt</th><th>next attempt</th>"
        "<th>delivery</th><th></th></tr></thead><tbody>{}</tbody></table>{}",
        rows,
        link,
    )


page_panel_register(
    "licensing.license",
    PagePanel(
        title=f"Webhook deliveries (latest {LICENSE_PANEL_DELIVERIES})",
        render=license_deliveries_panel,
    ),
)

"""Admin for webhooks (SPEC §13): endpoints with their delivery log, and actions that call
the same services as the brand API (audit row included, the staff user as actor).
Endpoints are added through the brand API (it shows the secret once); the admin never
shows a secret."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from audit.services import Actor
from license_service.admin import ReadOnlyAdmin, ReadOnlyInline
from license_service.errors import DomainError
from webhooks import services
from webhooks.models import WebhookDelivery, WebhookEndpoint

INLINE_DELIVERIES = 50
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
    list_filter = ["status", "event_type", ("endpoint__brand", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["endpoint"]
    search_fields = ["message_id", "endpoint__url"]
    fields = ("endpoint", "event", *DELIVERY_FIELDS, "last_attempt_at")
    readonly_fields = fields
    actions = ["retry"]

    @admin.action(description="Retry now (same webhook-id)")
    def retry(self, request: HttpRequest, queryset: QuerySet[WebhookDelivery]) -> None:
        for delivery in queryset:
            services.webhook_delivery_retry(delivery=delivery, actor=_actor(request))
        self.message_user(
            request, f"{queryset.count()} delivery(ies) queued again.", messages.SUCCESS
        )

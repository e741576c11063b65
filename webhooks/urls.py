"""Brand API routes of webhooks, mounted at /api/v1/brand/ (optional trailing slash)."""

from __future__ import annotations

from django.urls import re_path

from webhooks import apis

ID = r"[0-9]{1,18}"

urlpatterns = [
    re_path(r"^webhooks/?$", apis.WebhookCollectionApi.as_view(), name="brand-webhooks"),
    re_path(
        rf"^webhooks/deliveries/(?P<delivery_id>{ID})/retry/?$",
        apis.WebhookDeliveryRetryApi.as_view(),
        name="brand-webhook-delivery-retry",
    ),
    re_path(
        rf"^webhooks/(?P<webhook_id>{ID})/?$",
        apis.WebhookDetailApi.as_view(),
        name="brand-webhook",
    ),
    re_path(
        rf"^webhooks/(?P<webhook_id>{ID})/test/?$",
        apis.WebhookTestApi.as_view(),
        name="brand-webhook-test",
    ),
    re_path(
        rf"^webhooks/(?P<webhook_id>{ID})/deliveries/?$",
        apis.WebhookDeliveriesApi.as_view(),
        name="brand-webhook-deliveries",
    ),
]

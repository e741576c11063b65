"""Writes of webhooks (SPEC §13): endpoints, test sends and manual retries. Each runs in
one transaction with its audit row; messages to the workers are sent after commit."""

from __future__ import annotations

import base64
import secrets
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit.services import Actor, audit_record
from brands.models import Brand
from events.services import event_record
from license_service.errors import ValidationFailed
from webhooks import ssrf
from webhooks.models import SUBSCRIBABLE_TYPES, TEST_TYPE, WebhookDelivery, WebhookEndpoint
from webhooks.queue import enqueue_on_commit

SECRET_PREFIX = "whsec_"  # noqa: S105 (the format's prefix, no secret)
SECRET_BYTES = 32
TARGET_TYPE = "webhook_endpoint"
_UNSET: Any = object()


def generate_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def url_check(url: str) -> None:
    """The SSRF rules at creation: a ``validation_error`` naming ``url``."""
    try:
        ssrf.url_target(url)
    except ssrf.UrlRefused as exc:
        raise ValidationFailed("The webhook URL is refused.", details={"url": [str(exc)]}) from exc


def events_check(events: list[str]) -> list[str]:
    unknown = sorted({e for e in events if e not in SUBSCRIBABLE_TYPES})
    if unknown:
        raise ValidationFailed(
            details={"events": [f"Unknown event type(s): {', '.join(unknown)}."]}
        )
    return sorted(set(events))


def _state(endpoint: WebhookEndpoint) -> dict[str, Any]:
    return {
        "url": endpoint.url,
        "events": endpoint.events,
        "description": endpoint.description,
        "enabled": endpoint.enabled,
    }


def webhook_endpoint_create(
    *, brand: Brand, actor: Actor, url: str, events: list[str], description: str = ""
) -> WebhookEndpoint:
    """A new endpoint with a new secret (``endpoint.secret``: the caller shows it once).
    The URL is checked (a DNS lookup) before the transaction opens."""
    events = events_check(events)
    url_check(url)
    with transaction.atomic():
        if WebhookEndpoint.objects.filter(brand=brand).count() >= settings.WEBHOOK_MAX_ENDPOINTS:
            raise ValidationFailed(
                f"A brand has at most {settings.WEBHOOK_MAX_ENDPOINTS} webhook endpoints.",
                details={"url": ["Too many endpoints; delete one first."]},
            )
        endpoint = WebhookEndpoint.objects.create(
            brand=brand, url=url, events=events, description=description, secret=generate_secret()
        )
        audit_record(
            action="webhook.created",
            actor=actor,
            target_type=TARGET_TYPE,
            target_id=endpoint.pk,
            brand_id=brand.pk,
            after=_state(endpoint),
        )
    return endpoint


def webhook_endpoint_update(
    *,
    endpoint: WebhookEndpoint,
    actor: Actor,
    url: str = _UNSET,
    events: list[str] = _UNSET,
    description: str = _UNSET,
    enabled: bool = _UNSET,
) -> WebhookEndpoint:
    """Change what was given. Enabling an endpoint clears its failure record (the
    deliveries still pending resume). A new URL is checked before the transaction."""
    if url is not _UNSET and url != endpoint.url:
        url_check(url)
    with transaction.atomic():
        return _endpoint_update(
            endpoint=endpoint,
            actor=actor,
            url=url,
            events=events,
            description=description,
            enabled=enabled,
        )


def _endpoint_update(
    *,
    endpoint: WebhookEndpoint,
    actor: Actor,
    url: str,
    events: list[str],
    description: str,
    enabled: bool,
) -> WebhookEndpoint:
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    before = _state(endpoint)
    if url is not _UNSET:
        endpoint.url = url
    if events is not _UNSET:
        endpoint.events = events_check(events)
    if description is not _UNSET:
        endpoint.description = description
    if enabled is not _UNSET and enabled != endpoint.enabled:
        endpoint.enabled = enabled
        if enabled:
            endpoint.failing_since = None
            endpoint.disabled_at = None
    after = _state(endpoint)
    if after == before:
        return endpoint
    endpoint.updated_at = timezone.now()
    endpoint.save()
    audit_record(
        action="webhook.updated",
        actor=actor,
        target_type=TARGET_TYPE,
        target_id=endpoint.pk,
        brand_id=endpoint.brand_id,
        before=before,
        after=after,
    )
    return endpoint


@transaction.atomic
def webhook_endpoint_delete(*, endpoint: WebhookEndpoint, actor: Actor) -> None:
    """Delete the endpoint and its delivery log."""
    before = _state(endpoint)
    pk, brand_id = endpoint.pk, endpoint.brand_id
    endpoint.delete()
    audit_record(
        action="webhook.deleted",
        actor=actor,
        target_type=TARGET_TYPE,
        target_id=pk,
        brand_id=brand_id,
        before=before,
    )


@transaction.atomic
def webhook_endpoint_test(*, endpoint: WebhookEndpoint, actor: Actor) -> WebhookDelivery:
    """Send a ``webhook.test`` event to this endpoint alone (one attempt, not retried;
    also to a disabled endpoint: that is how one checks it before enabling it)."""
    now = timezone.now()
    message_id = f"test_{secrets.token_hex(12)}"
    delivery = WebhookDelivery.objects.create(
        endpoint=endpoint,
        event=None,
        event_type=TEST_TYPE,
        message_id=message_id,
        payload={
            "id": message_id,
            "type": TEST_TYPE,
            "created_at": now.isoformat().replace("+00:00", "Z"),
            "brand": endpoint.brand.slug,
            "data": {"webhook": {"id": endpoint.pk, "url": endpoint.url}},
        },
        next_attempt_at=now,
        enqueued_at=now,
        created_at=now,
        updated_at=now,
    )
    audit_record(
        action="webhook.test_sent",
        actor=actor,
        target_type=TARGET_TYPE,
        target_id=endpoint.pk,
        brand_id=endpoint.brand_id,
        after={"delivery_id": delivery.pk},
    )
    enqueue_on_commit([delivery.pk])
    return delivery


@transaction.atomic
def webhook_delivery_retry(*, delivery: WebhookDelivery, actor: Actor) -> WebhookDelivery:
    """Send this delivery again now (same ``webhook-id``), whatever its status; a failed
    one is pending again, with its retries, from here."""
    delivery = WebhookDelivery.objects.select_for_update().get(pk=delivery.pk)
    now = timezone.now()
    before = {"status": delivery.status, "attempts": delivery.attempts}
    delivery.status = WebhookDelivery.Status.PENDING
    delivery.next_attempt_at = now
    delivery.enqueued_at = now
    delivery.claimed_until = None
    delivery.updated_at = now
    delivery.save()
    audit_record(
        action="webhook.delivery_retried",
        actor=actor,
        target_type="webhook_delivery",
        target_id=delivery.pk,
        brand_id=delivery.endpoint.brand_id,
        before=before,
        after={"status": delivery.status},
    )
    enqueue_on_commit([delivery.pk])
    return delivery


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def endpoint_data(endpoint: WebhookEndpoint) -> dict[str, Any]:
    """The endpoint as the brand API shows it (never its secret)."""
    return {
        "id": endpoint.pk,
        **_state(endpoint),
        "created_at": _iso(endpoint.created_at),
        "failing_since": _iso(endpoint.failing_since),
        "disabled_at": _iso(endpoint.disabled_at),
    }


@transaction.atomic
def webhook_endpoint_disable_failing(*, endpoint_id: int, actor: Actor, now: datetime) -> bool:
    """Disable the endpoint if it is enabled and has failed without a success since
    ``WEBHOOK_DISABLE_AFTER`` before ``now``; say so (audit row, ``webhook.disabled``
    event). Idempotent: the row is locked and the condition checked again. Returns whether
    it disabled it."""
    endpoint = WebhookEndpoint.objects.select_for_update().filter(pk=endpoint_id).first()
    if (
        endpoint is None
        or not endpoint.enabled
        or endpoint.failing_since is None
        or endpoint.failing_since > now - settings.WEBHOOK_DISABLE_AFTER
    ):
        return False
    endpoint.enabled = False
    endpoint.disabled_at = now
    endpoint.updated_at = now
    endpoint.save(update_fields=["enabled", "disabled_at", "updated_at"])
    audit_record(
        action="webhook.disabled",
        actor=actor,
        target_type=TARGET_TYPE,
        target_id=endpoint.pk,
        brand_id=endpoint.brand_id,
        before={"enabled": True},
        after={"enabled": False, "failing_since": _iso(endpoint.failing_since)},
    )
    event_record(
        type_="webhook.disabled",
        brand_id=endpoint.brand_id,
        data={"webhook": endpoint_data(endpoint)},
    )
    return True

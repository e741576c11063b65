"""Webhooks (SPEC §13): a brand's endpoints, and one delivery row per (endpoint, event).

A delivery is the unit of work and its own log: ``status`` pending until a 2xx arrives
(succeeded) or the retries are exhausted (failed). ``next_attempt_at`` is when it is due;
the sweep (webhooks/jobs.py) is the source of truth for what to send, the Celery messages
only make it prompt: ``enqueued_at`` says a message was sent for it (re-sent when it looks
lost), ``claimed_until`` is the lease of the worker sending it (a worker killed mid-send
leaves it to another once the lease has passed).
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

# SPEC §13 types an endpoint may subscribe to (an empty list: every type).
from events.models import EVENT_TYPES

TEST_TYPE = "webhook.test"
SUBSCRIBABLE_TYPES = EVENT_TYPES
# What a delivery may carry: an event, or a test send.
DELIVERY_TYPES = (*EVENT_TYPES, TEST_TYPE)
MAX_URL_LENGTH = 2000


class WebhookEndpoint(models.Model):
    brand = models.ForeignKey("brands.Brand", on_delete=models.CASCADE, related_name="+")
    url = models.CharField(max_length=MAX_URL_LENGTH)
    events = models.JSONField(default=list, blank=True, help_text="Empty: every type.")
    description = models.CharField(max_length=500, blank=True, default="")
    enabled = models.BooleanField(default=True)
    secret = models.CharField(max_length=100, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    # The first failure of the current run of failures (None after a success).
    failing_since = models.DateTimeField(null=True, blank=True)
    # Set when the service disabled it (5 days of failures); cleared when re-enabled.
    disabled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["brand", "enabled"], name="webhook_brand_enabled_idx")]

    def __str__(self) -> str:
        return f"{self.url} (#{self.pk})"

    def wants(self, type_: str) -> bool:
        return not self.events or type_ in self.events


class WebhookDelivery(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    # None for a test send (its body is in ``payload``).
    event = models.ForeignKey(
        "events.Event", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    event_type = models.CharField(max_length=64)
    # The ``webhook-id`` header: the event id (a test send: ``test_<random>``); the same on
    # every attempt, so receivers drop duplicates by it.
    message_id = models.CharField(max_length=64)
    payload = models.JSONField(null=True, blank=True, editable=False)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    claimed_until = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_duration_ms = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        # The console's retry (a delivery list action and a button on a license's page):
        # staff who may read the log need not be allowed to send again.
        permissions = [("retry_webhookdelivery", "Can retry a webhook delivery")]
        constraints = [
            models.UniqueConstraint(
                fields=["endpoint", "event"],
                condition=Q(event__isnull=False),
                name="webhook_delivery_once_per_event",
            )
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status="pending"),
                name="webhook_delivery_due_idx",
            ),
            models.Index(fields=["endpoint", "-id"], name="webhook_delivery_log_idx"),
            models.Index(fields=["updated_at"], name="webhook_delivery_purge_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.message_id} -> #{self.endpoint_id}"


class WebhookDispatchCursor(models.Model):
    """One row: the feed position up to which events have been turned into deliveries."""

    position = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"dispatched up to position {self.position}"

"""Seats in use (SPEC §6, §10).

An activation is one instance (site or machine) on one license. Its ``environment`` is
decided from the normalized identifier when it is made (``activations.environment``); only
``production`` activations are seats, the others count against the product's
``non_production_limit``. With a product ``heartbeat_seconds``, an activation not seen for
longer is *dead* (computed, never stored): it no longer counts. A dead activation whose
place was taken is *reclaimed* (``reclaimed_at`` set): the row stays, so the instance's next
check can say ``reason: "reclaimed"`` or take a free seat back.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import models
from django.utils import timezone

from licensing.models import License


class Environment(models.TextChoices):
    PRODUCTION = "production"
    STAGING = "staging"
    LOCAL = "local"


class ActivationState(models.TextChoices):
    """What ``Activation.state`` answers; only ``active`` and ``dead`` are seats' states the
    brand API shows (a reclaimed activation is no longer listed)."""

    ACTIVE = "active"
    DEAD = "dead"
    RECLAIMED = "reclaimed"


class Activation(models.Model):
    license = models.ForeignKey(License, on_delete=models.CASCADE, related_name="activations")
    instance_identifier = models.CharField(max_length=255)
    activated_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    environment = models.CharField(
        max_length=10,
        choices=Environment.choices,
        default=Environment.PRODUCTION,
        db_default=Environment.PRODUCTION,  # rows written by code older than the column
    )
    # What the client said it is (``environment`` in the activate body): recorded, never
    # trusted to make a production host free.
    environment_claim = models.CharField(max_length=20, blank=True, default="", db_default="")
    reclaimed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["license", "instance_identifier"], name="activation_unique_instance"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.instance_identifier} on license {self.license_id}"

    def state(self, heartbeat_seconds: int | None, now: datetime | None = None) -> str:
        """``reclaimed``, else ``dead`` when not seen for longer than ``heartbeat_seconds``
        (the product's; None: never dead), else ``active``."""
        if self.reclaimed_at is not None:
            return ActivationState.RECLAIMED
        if heartbeat_seconds is not None:
            now = now or timezone.now()
            if self.last_seen_at < now - timedelta(seconds=heartbeat_seconds):
                return ActivationState.DEAD
        return ActivationState.ACTIVE

"""Seats in use."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from licensing.models import License


class Activation(models.Model):
    license = models.ForeignKey(License, on_delete=models.CASCADE, related_name="activations")
    instance_identifier = models.CharField(max_length=255)
    activated_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["license", "instance_identifier"], name="activation_unique_instance"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.instance_identifier} on license {self.license_id}"

"""The outbox (SPEC §13): one ``Event`` per change a brand cares about, written by the
service that made the change, in its transaction, next to the audit row.

``position`` is the event's place in its brand's feed. It is not the id: ids come from a
sequence when the row is inserted, so a transaction that took id 5 and commits after the
one that took id 6 would make a reader that already moved past 6 skip 5. Positions are
given after commit instead, by ``events.services.events_sequence``, one sequencer at a time
(a lock), to every committed event without one, in id order: a position is given only
once a row is visible, and every row visible later gets a larger one. The feed serves by
position, so no reader ever moves past an event that has yet to appear.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

LICENSE_TYPES = (
    "license.provisioned",
    "license.renewed",
    "license.suspended",
    "license.resumed",
    "license.cancelled",
    "license.seats_changed",
    "license.expiring_soon",
    "license.expired",
)
ACTIVATION_TYPES = ("activation.created", "activation.released", "activation.reclaimed")
RELEASE_TYPES = ("release.published",)
# Written by webhooks/ when an endpoint failing for 5 days is disabled.
WEBHOOK_TYPES = ("webhook.disabled",)
EVENT_TYPES = LICENSE_TYPES + ACTIVATION_TYPES + RELEASE_TYPES + WEBHOOK_TYPES


class Event(models.Model):
    type = models.CharField(max_length=64, choices=[(t, t) for t in EVENT_TYPES])
    brand = models.ForeignKey("brands.Brand", on_delete=models.PROTECT, related_name="+")
    data = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now)
    position = models.BigIntegerField(null=True, blank=True, unique=True, editable=False)
    # The license a license.* or activation.* event is about (the services above pass it;
    # events imports no app, so a plain column, not a foreign key: licenses are never
    # deleted, and an event outlives nothing it names). The console lists a license's
    # webhook deliveries by it.
    license_id = models.BigIntegerField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["position", "id"]
        indexes = [
            models.Index(fields=["brand", "position"], name="event_feed_idx"),
            models.Index(fields=["brand", "type", "position"], name="event_feed_type_idx"),
            models.Index(
                fields=["license_id"],
                condition=Q(license_id__isnull=False),
                name="event_license_idx",
            ),
            # The sequencer's work list: small, since rows leave it within a feed read.
            models.Index(
                fields=["id"], condition=Q(position__isnull=True), name="event_unsequenced_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.type} #{self.pk}"

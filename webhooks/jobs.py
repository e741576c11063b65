"""Webhook delivery's background work (SPEC §13): dispatch, sweep, deliver, purge.

- ``webhooks_dispatch`` turns committed events into deliveries, in feed order: it keeps a
  cursor (``WebhookDispatchCursor``) on the feed's positions, which are given only to
  committed events and only ever grow (events/services.py), so every event is seen exactly
  once; the cursor row is locked, so two dispatchers never create the same rows (and the
  (endpoint, event) unique constraint would refuse them anyway).
- ``webhooks_sweep`` is the source of truth for what to send: every pending delivery that
  is due and not being sent gets a Celery message, again when the previous one looks lost
  (``WEBHOOK_REQUEUE_AFTER``); it also disables endpoints failing for too long.
- ``webhook_deliver`` sends one delivery: claimed by a conditional UPDATE (a lease, so a
  worker killed mid-send leaves it to another), sent outside any transaction, recorded.
  At least once: a receiver may see an event twice, always with the same ``webhook-id``.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from audit.services import Actor
from events.models import Event
from events.selectors import event_body
from events.services import SEQUENCE_BATCH, events_sequence, events_unsequenced
from license_service import metrics
from webhooks import delivery as http
from webhooks.models import WebhookDelivery, WebhookDispatchCursor, WebhookEndpoint
from webhooks.queue import enqueue, enqueue_on_commit
from webhooks.services import webhook_endpoint_disable_failing

ACTOR = Actor.system("webhooks")
PENDING = WebhookDelivery.Status.PENDING
# Exponential backoff: the cap of the wait after the 1st, 2nd, … failed attempt; the wait
# is drawn uniformly below it ("full jitter"), the last cap repeats. Retries go on until
# both MIN_ATTEMPTS were made and WEBHOOK_RETRY_WINDOW (3 days) has passed since the
# delivery was created, so the jitter never shortens the promised window.
RETRY_CAPS = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=14),
    timedelta(hours=20),
    timedelta(hours=24),
)
MIN_ATTEMPTS = len(RETRY_CAPS) + 1
MIN_WAIT = timedelta(seconds=1)


def retry_wait(attempts: int, rng: random.Random | None = None) -> timedelta:
    """The wait after the ``attempts``-th failed attempt (1-based)."""
    cap = RETRY_CAPS[min(attempts, len(RETRY_CAPS)) - 1]
    drawn = (rng or random).uniform(0, cap.total_seconds())
    return max(MIN_WAIT, timedelta(seconds=drawn))


def gives_up(delivery: WebhookDelivery, now: datetime) -> bool:
    return (
        delivery.attempts >= MIN_ATTEMPTS
        and now - delivery.created_at >= settings.WEBHOOK_RETRY_WINDOW
    )


def _cursor() -> WebhookDispatchCursor:
    cursor = WebhookDispatchCursor.objects.select_for_update().filter(pk=1).first()
    if cursor is None:
        # Created by the migration; here only if someone deleted it. Start after the last
        # event that has deliveries: none is missed, and the unique (endpoint, event)
        # constraint keeps a rescan from sending any twice.
        last = (
            WebhookDelivery.objects.exclude(event=None)
            .order_by("-event__position")
            .values_list("event__position", flat=True)
            .first()
        )
        WebhookDispatchCursor.objects.get_or_create(pk=1, defaults={"position": last or 0})
        cursor = WebhookDispatchCursor.objects.select_for_update().get(pk=1)
    return cursor


def webhooks_dispatch(*, batch: int = 1000, now: datetime | None = None) -> int:
    """Create the deliveries of the events committed since the last run (one per enabled
    endpoint of the event's brand that wants its type and existed when it was written),
    and send their messages after commit. Returns how many deliveries were created."""
    for _ in range(10):
        if not events_unsequenced() or events_sequence() < SEQUENCE_BATCH:
            break
    created = 0
    with transaction.atomic():
        cursor = _cursor()
        events = list(
            Event.objects.filter(position__gt=cursor.position).order_by("position")[:batch]
        )
        if not events:
            return 0
        now = now or timezone.now()
        endpoints: dict[int, list[WebhookEndpoint]] = {}
        for endpoint in WebhookEndpoint.objects.filter(
            brand_id__in={e.brand_id for e in events}, enabled=True
        ):
            endpoints.setdefault(endpoint.brand_id, []).append(endpoint)
        rows = [
            WebhookDelivery(
                endpoint=endpoint,
                event=event,
                event_type=event.type,
                message_id=str(event.pk),
                next_attempt_at=now,
                enqueued_at=now,
                created_at=now,
                updated_at=now,
            )
            for event in events
            for endpoint in endpoints.get(event.brand_id, [])
            if endpoint.wants(event.type) and endpoint.created_at <= event.created_at
        ]
        made = WebhookDelivery.objects.bulk_create(rows, ignore_conflicts=True)
        created = len(made)
        cursor.position = events[-1].position or cursor.position
        cursor.updated_at = now
        cursor.save()
        # bulk_create with ignore_conflicts returns no ids: read them back.
        ids = list(
            WebhookDelivery.objects.filter(
                event_id__in=[e.pk for e in events], status=PENDING, enqueued_at=now
            ).values_list("pk", flat=True)
        )
        enqueue_on_commit(ids)
    return created


def _not_claimed(now: datetime) -> Q:
    return Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)


def _sendable() -> Q:
    # A test send goes also to a disabled endpoint; everything else waits for it.
    return Q(endpoint__enabled=True) | Q(event__isnull=True)


def webhooks_sweep(*, batch: int = 500, now: datetime | None = None) -> int:
    """Send a message for every due pending delivery nobody is sending and whose message
    (if any) looks lost; disable endpoints failing for too long. Returns how many messages
    were sent."""
    now = now or timezone.now()
    for endpoint_id in WebhookEndpoint.objects.filter(
        enabled=True, failing_since__lte=now - settings.WEBHOOK_DISABLE_AFTER
    ).values_list("pk", flat=True):
        webhook_endpoint_disable_failing(endpoint_id=endpoint_id, actor=ACTOR, now=now)
    lost = now - settings.WEBHOOK_REQUEUE_AFTER
    due = (
        WebhookDelivery.objects.filter(status=PENDING, next_attempt_at__lte=now)
        .filter(_not_claimed(now), _sendable())
        .filter(Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=lost))
    )
    ids = list(due.order_by("next_attempt_at", "id").values_list("pk", flat=True)[:batch])
    if not ids:
        return 0
    # Only the rows this UPDATE changed: a concurrent sweep gets the others.
    claimed = []
    for pk in ids:
        if (
            WebhookDelivery.objects.filter(pk=pk)
            .filter(Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=lost))
            .update(enqueued_at=now)
        ):
            claimed.append(pk)
    return enqueue(claimed)


def webhook_deliver(
    delivery_id: int, *, now: datetime | None = None, rng: random.Random | None = None
) -> str | None:
    """One attempt of a due delivery, if nobody else is making it. Returns the attempt's
    outcome, or None when there was nothing to do (not due, done, or claimed)."""
    now = now or timezone.now()
    lease = now + timedelta(seconds=settings.WEBHOOK_TIMEOUT * 2 + settings.WEBHOOK_LEASE_MARGIN)
    if not WebhookDelivery.objects.filter(_sendable(), pk=delivery_id).exists():
        return None  # its endpoint is disabled (or it is gone)
    # The claim's conditions are all on the row itself: PostgreSQL re-checks them after
    # waiting for a concurrent claim's lock (a join would make the UPDATE a subquery
    # evaluated before the wait, and both claims would win).
    claimed = (
        WebhookDelivery.objects.filter(pk=delivery_id, status=PENDING, next_attempt_at__lte=now)
        .filter(_not_claimed(now))
        .update(claimed_until=lease)
    )
    if not claimed:
        return None
    delivery = WebhookDelivery.objects.select_related("endpoint__brand", "event").get(
        pk=delivery_id
    )
    endpoint = delivery.endpoint
    if delivery.event is not None:
        body = event_body(delivery.event, endpoint.brand.slug)
    else:
        body = delivery.payload or {}
    attempt = http.send(
        url=endpoint.url, secret=endpoint.secret, message_id=delivery.message_id, body=body
    )
    metrics.record_webhook_attempt(attempt.outcome)
    _record(delivery_id, attempt, now=now + timedelta(milliseconds=attempt.duration_ms), rng=rng)
    return attempt.outcome


@transaction.atomic
def _record(
    delivery_id: int, attempt: http.Attempt, *, now: datetime, rng: random.Random | None
) -> None:
    delivery = WebhookDelivery.objects.select_for_update().filter(pk=delivery_id).first()
    if delivery is None or delivery.status != PENDING:  # deleted, or retried and sent meanwhile
        return
    delivery.attempts += 1
    delivery.last_attempt_at = now
    delivery.last_status_code = attempt.status_code
    delivery.last_duration_ms = attempt.duration_ms
    delivery.last_error = attempt.error
    delivery.claimed_until = None
    delivery.enqueued_at = None
    delivery.updated_at = now
    # The endpoint's failure record by conditional UPDATEs, not a row lock: deliveries to
    # one endpoint do not queue behind each other.
    endpoint = WebhookEndpoint.objects.filter(pk=delivery.endpoint_id)
    if attempt.succeeded:
        delivery.status = WebhookDelivery.Status.SUCCEEDED
        delivery.delivered_at = now
        delivery.next_attempt_at = None
        endpoint.filter(failing_since__isnull=False).update(failing_since=None)
    elif delivery.event_id is None or gives_up(delivery, now):
        # A test send is one attempt; an event's delivery ends after its retry window.
        delivery.status = WebhookDelivery.Status.FAILED
        delivery.next_attempt_at = None
    else:
        delivery.next_attempt_at = now + retry_wait(delivery.attempts, rng)
    if not attempt.succeeded and delivery.event_id is not None:
        endpoint.filter(failing_since__isnull=True).update(failing_since=now)
        # Failing for long enough already: disabled now rather than at the next sweep.
        failing = endpoint.filter(
            enabled=True, failing_since__lte=now - settings.WEBHOOK_DISABLE_AFTER
        ).exists()
        if failing:
            webhook_endpoint_disable_failing(endpoint_id=delivery.endpoint_id, actor=ACTOR, now=now)
    delivery.save()
    metrics.record_webhook_delivery(delivery.status)


def webhook_deliveries_purge(*, now: datetime | None = None, batch: int = 1000) -> int:
    """Delete finished deliveries (succeeded or failed) last changed more than
    ``WEBHOOK_DELIVERY_LOG_DAYS`` ago, in batches. Idempotent, safe on several hosts."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.WEBHOOK_DELIVERY_LOG_DAYS)
    old = WebhookDelivery.objects.filter(updated_at__lt=cutoff).exclude(status=PENDING)
    purged = 0
    while True:
        ids = list(old.order_by("id").values_list("id", flat=True)[:batch])
        if not ids:
            return purged
        deleted, _ = old.filter(pk__in=ids).delete()
        purged += deleted
        if len(ids) < batch:
            return purged

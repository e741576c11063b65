"""Celery messages for deliveries. A message only makes a delivery prompt: the sweep
(webhooks/jobs.py) re-sends one for every due delivery whose message looks lost, so a
broker that is down when a message is sent costs latency, never a delivery."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.db import transaction

from license_service.celery import app
from webhooks.models import WebhookDelivery

DELIVER_TASK = "webhooks.tasks.deliver"
logger = logging.getLogger(__name__)


def enqueue(delivery_ids: Iterable[int]) -> int:
    """Send one ``deliver`` message per id now; the ids whose message could not be sent
    are marked not enqueued, for the next sweep. Returns how many were sent."""
    sent, lost = 0, []
    for delivery_id in delivery_ids:
        try:
            app.send_task(DELIVER_TASK, args=[delivery_id], retry=False)
            sent += 1
        except Exception:
            logger.warning("webhook delivery %s not enqueued: broker unavailable", delivery_id)
            lost.append(delivery_id)
    if lost:
        WebhookDelivery.objects.filter(pk__in=lost).update(enqueued_at=None)
    return sent


def enqueue_on_commit(delivery_ids: list[int]) -> None:
    """``enqueue`` once the caller's transaction has committed (a worker must find the
    rows)."""
    if delivery_ids:
        transaction.on_commit(lambda: enqueue(delivery_ids))

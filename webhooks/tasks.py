"""Celery tasks of webhooks (SPEC §13). ``dispatch`` and ``sweep`` run on beat
(CELERY_BEAT_SCHEDULE); ``deliver`` is sent per delivery. All are idempotent."""

from __future__ import annotations

from celery import shared_task

from webhooks import jobs


@shared_task(name="webhooks.tasks.dispatch")
def dispatch() -> int:
    return jobs.webhooks_dispatch()


@shared_task(name="webhooks.tasks.sweep")
def sweep() -> int:
    return jobs.webhooks_sweep()


@shared_task(name="webhooks.tasks.deliver")
def deliver(delivery_id: int) -> str | None:
    return jobs.webhook_deliver(delivery_id)


@shared_task(name="webhooks.tasks.purge_deliveries")
def purge_deliveries() -> int:
    return jobs.webhook_deliveries_purge()

"""Celery tasks of licensing: the scheduled jobs (SPEC §14; the beat schedule is in
settings, CELERY_BEAT_SCHEDULE). Each is idempotent: a duplicate run announces nothing
twice."""

from __future__ import annotations

from celery import shared_task

from licensing import jobs


@shared_task(name="licensing.tasks.announce_expired")
def announce_expired() -> int:
    return jobs.licenses_announce_expired()


@shared_task(name="licensing.tasks.announce_expiring_soon")
def announce_expiring_soon() -> int:
    return jobs.licenses_announce_expiring_soon()


@shared_task(name="licensing.tasks.purge_idempotency_keys")
def purge_idempotency_keys() -> int:
    return jobs.idempotency_records_purge()

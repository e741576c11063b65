"""``python manage.py purge_idempotency_keys``: the scheduled job for operators without a
scheduler (SPEC §14); safe to run on several hosts at once (licensing/jobs.py)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from licensing import jobs


class Command(BaseCommand):
    help = "Delete Idempotency-Key records older than their TTL (24 h)."

    def handle(self, *args: Any, **options: Any) -> None:
        n = jobs.idempotency_records_purge()
        self.stdout.write(f"Purged {n} idempotency record(s).")

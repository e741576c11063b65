"""``python manage.py purge_webhook_deliveries``: the delivery-log purge for operators
without a scheduler (SPEC §14); safe on several hosts at once."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from webhooks import jobs


class Command(BaseCommand):
    help = "Delete finished webhook deliveries older than WEBHOOK_DELIVERY_LOG_DAYS (30)."

    def handle(self, *args: Any, **options: Any) -> None:
        n = jobs.webhook_deliveries_purge()
        days = settings.WEBHOOK_DELIVERY_LOG_DAYS
        self.stdout.write(f"Purged {n} webhook delivery record(s) older than {days} days.")

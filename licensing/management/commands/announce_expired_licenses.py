"""``python manage.py announce_expired_licenses``: the scheduled job for operators without a
scheduler (SPEC §14); safe to run on several hosts at once (licensing/jobs.py)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from licensing import jobs


class Command(BaseCommand):
    help = "Announce license.expired for every valid license whose expiry passed (once per expiry)."

    def handle(self, *args: Any, **options: Any) -> None:
        n = jobs.licenses_announce_expired()
        self.stdout.write(f"Announced {n} expired license(s).")

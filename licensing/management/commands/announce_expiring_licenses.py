"""``python manage.py announce_expiring_licenses``: the scheduled job for operators without a
scheduler (SPEC §14); safe to run on several hosts at once (licensing/jobs.py)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from licensing import jobs


class Command(BaseCommand):
    help = (
        "Announce license.expiring_soon, each brand's expiring_soon_days before expiry "
        "(once per expiry)."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        n = jobs.licenses_announce_expiring_soon()
        self.stdout.write(f"Announced {n} license(s) expiring soon.")

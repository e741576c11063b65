"""``python manage.py deliver_webhooks``: one dispatch and sweep (what beat runs every few
seconds), for operators without a scheduler; the messages go to the workers."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from webhooks import jobs


class Command(BaseCommand):
    help = "Turn new events into webhook deliveries and queue the due ones."

    def handle(self, *args: Any, **options: Any) -> None:
        created = jobs.webhooks_dispatch()
        queued = jobs.webhooks_sweep()
        self.stdout.write(f"Created {created} delivery(ies), queued {queued}.")

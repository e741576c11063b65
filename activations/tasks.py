"""Celery task of activations: reclaim dead activations (SPEC §10, §14), the same work as
``manage.py reclaim_activations`` (idempotent: a row another host reclaimed is skipped)."""

from __future__ import annotations

import io

from celery import shared_task
from django.core.management import call_command


@shared_task(name="activations.tasks.reclaim_dead")
def reclaim_dead() -> str:
    out = io.StringIO()
    call_command("reclaim_activations", stdout=out)
    return out.getvalue().splitlines()[-1]

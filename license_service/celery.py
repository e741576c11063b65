"""The Celery app: background work (webhook delivery, scheduled jobs; SPEC §13-14).

Configured from Django's settings (the ``CELERY_`` names in license_service/settings/base.py);
tasks live in each app's ``tasks.py`` and are found by ``autodiscover_tasks``. A worker:
``celery -A license_service worker``; the schedule: ``celery -A license_service beat``
(``make run`` runs both in one embedded process, license_service/devserver.py).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from celery import Celery
from celery.signals import beat_init, worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "license_service.settings.local")

app = Celery("license_service")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def broker_folders() -> list[Path]:
    """The folders of the filesystem transport (none for another broker)."""
    options = app.conf.broker_transport_options or {}
    if not str(app.conf.broker_url).startswith("filesystem://"):
        return []
    return [
        Path(options[name])
        for name in ("data_folder_in", "data_folder_out", "control_folder")
        if options.get(name)
    ]


def ensure_broker_folders() -> None:
    """The filesystem transport needs its folders before anyone sends or reads."""
    for folder in broker_folders():
        folder.mkdir(parents=True, exist_ok=True)


def _prepare(**_: Any) -> None:
    ensure_broker_folders()


worker_init.connect(_prepare, weak=False)
beat_init.connect(_prepare, weak=False)

"""``make run``: migrate, load the demo data, and serve with gunicorn on ``HOST:PORT``.

``python -m license_service.devserver 127.0.0.1:8000``. Local settings unless
``DJANGO_SETTINGS_MODULE`` says otherwise. The Makefile and tests/ops/test_devserver.py
both run this module, so what the test serves is what ``make run`` serves.

gunicorn rather than Django's runserver: runserver starts one thread per request, and each
thread's persistent database connection (``CONN_MAX_AGE``) outlived it, so every burst of
concurrent requests left that many idle connections until PostgreSQL refused new clients;
its listen backlog of 5 reset the connections of a burst; and it printed every request's
URL, license keys in ``/check/{key}`` included. Here the server is the production one
(gunicorn.conf.py: JSON logs with every key masked, no access log with URLs, a deep
backlog) with a small fixed pool, ``WORKERS`` x ``THREADS``: at most that many database
connections, reused from request to request, however many clients arrive at once.
``--reload`` restarts the workers when the code changes. Static files (the admin's) are
served by Django's ``staticfiles_urlpatterns`` while ``DEBUG`` is on (license_service.urls).

Background work runs too: one Celery worker with the beat schedule embedded (``worker
--beat``), started beside gunicorn in the same process group (so stopping ``make run``
stops it). With no broker configured it uses kombu's filesystem transport
(``CELERY_FILESYSTEM_DIR``): nothing to install; with ``REDIS_URL`` or
``CELERY_BROKER_URL`` it uses that broker.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import django
from django.conf import settings
from django.core.management import call_command
from django.db import connections

from license_service.celery import ensure_broker_folders

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_BIND = "127.0.0.1:8000"
SETTINGS = "license_service.settings.local"
WORKERS = 2
THREADS = 4


def serve_command(bind: str) -> list[str]:
    """The gunicorn command line ``make run`` serves with."""
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "--config",
        str(ROOT / "gunicorn.conf.py"),
        "--bind",
        bind,
        "--workers",
        str(WORKERS),
        "--threads",
        str(THREADS),
        "--reload",
        # A development server needs no control socket, and gunicorn's default path is
        # shared by every gunicorn of the user: two checkouts would collide on it.
        "--no-control-socket",
        "license_service.wsgi:application",
    ]


def worker_command() -> list[str]:
    """The Celery worker ``make run`` starts beside gunicorn: beat embedded, 2 threads."""
    return [
        sys.executable,
        "-m",
        "celery",
        "--app",
        "license_service",
        "worker",
        "--beat",
        "--schedule",
        str(Path(settings.CELERY_FILESYSTEM_DIR) / "beat-schedule"),
        "--pool",
        "threads",
        "--concurrency",
        "2",
        "--loglevel",
        "INFO",
        "--without-gossip",
        "--without-mingle",
    ]


def start_worker() -> subprocess.Popen[bytes]:
    """Start the worker (it outlives this process's exec into gunicorn: same group)."""
    ensure_broker_folders()
    return subprocess.Popen(worker_command())  # noqa: S603 (our own interpreter, fixed args)


def prepare() -> None:
    """What ``make run`` does before serving: migrate, then load the demo data."""
    django.setup()
    call_command("migrate", interactive=False)
    call_command("load_demo_data")
    connections.close_all()  # the server's workers open their own


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) > 1 or (args and args[0] in {"-h", "--help"}):
        raise SystemExit(f"usage: python -m license_service.devserver [{DEFAULT_BIND}]")
    bind = args[0] if args else DEFAULT_BIND
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", SETTINGS)
    os.chdir(ROOT)
    prepare()
    start_worker()
    sys.stdout.flush()
    command = serve_command(bind)
    os.execv(command[0], command)  # noqa: S606 (our own interpreter, a fixed command line)


if __name__ == "__main__":
    main()

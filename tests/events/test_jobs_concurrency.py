"""The scheduled jobs are safe on several hosts at once (SPEC §14), on PostgreSQL: two
processes running the same job at the same time announce each expiry exactly once; and a
real Celery worker (celery.contrib.testing, in-memory transport) runs the scheduled tasks."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from celery import Celery
from celery.contrib.testing.worker import start_worker
from django.db import connection
from django.utils import timezone

from events.models import Event
from license_service.celery import app
from licensing import jobs
from licensing.tasks import announce_expired
from tests.conftest import requires_postgres
from tests.factories import LicenseFactory

ROOT = Path(__file__).resolve().parents[2]
LICENSES = 60


def _expired(product, n=LICENSES):
    past = timezone.now() - timedelta(seconds=1)
    return LicenseFactory.create_batch(n, product=product, expires_at=past)


def _env_for_this_database() -> dict[str, str]:
    """The environment of a subprocess that works on this test's PostgreSQL database (and
    no Redis: nothing of it lands in the database the other tests use)."""
    settings_dict = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": (
            f"postgres://{settings_dict['USER']}@{settings_dict['HOST'] or '127.0.0.1'}:"
            f"{settings_dict['PORT'] or 5432}/{settings_dict['NAME']}"
        ),
        "LOG_LEVEL": "INFO",
    }
    if settings_dict.get("PASSWORD"):
        env["PGPASSWORD"] = settings_dict["PASSWORD"]
    env.pop("REDIS_URL", None)
    return env


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_two_processes_running_the_expiry_job_announce_each_license_once(product):
    _expired(product)
    env = {
        **_env_for_this_database(),
        "DJANGO_SETTINGS_MODULE": "license_service.settings.test",
        "LOG_LEVEL": "WARNING",
    }
    command = [sys.executable, "manage.py", "announce_expired_licenses"]
    procs = [
        subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    outputs = [proc.communicate(timeout=120) for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], outputs
    counts = [int(out.decode().split()[1]) for out, _ in outputs]
    assert sum(counts) == LICENSES
    assert Event.objects.filter(type="license.expired").count() == LICENSES
    assert Event.objects.values("data__license__license_id").distinct().count() == LICENSES


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_two_threads_running_the_expiry_job_at_once_announce_each_license_once(product):
    _expired(product)
    barrier = threading.Barrier(2)
    results: list[int] = []

    def run() -> None:
        try:
            barrier.wait(10)
            results.append(jobs.licenses_announce_expired(batch=7))
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sum(results) == LICENSES
    assert Event.objects.filter(type="license.expired").count() == LICENSES


@pytest.mark.django_db(transaction=True)
def test_a_celery_worker_runs_the_scheduled_tasks(product):
    _expired(product, n=3)
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        announce_expired.delay()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if Event.objects.filter(type="license.expired").count() == 3:
                break
            time.sleep(0.1)
    assert Event.objects.filter(type="license.expired").count() == 3


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_two_celery_worker_processes_running_the_job_at_once_announce_each_once(product, tmp_path):
    """Two real workers (separate processes, one queue on the filesystem transport) each
    take one run of the job at the same time: every expiry is announced once."""
    _expired(product)
    env = {
        **_env_for_this_database(),
        "CELERY_BROKER_URL": "filesystem://",
        "CELERY_FILESYSTEM_DIR": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "license_service.settings.local",
    }
    (tmp_path / "queue").mkdir()
    (tmp_path / "control").mkdir()
    client = Celery(
        "jobs-test",
        broker="filesystem://",
        broker_transport_options={
            "data_folder_in": str(tmp_path / "queue"),
            "data_folder_out": str(tmp_path / "queue"),
            "control_folder": str(tmp_path / "control"),
        },
    )
    for _ in range(2):
        client.send_task("licensing.tasks.announce_expired")
    worker = [
        sys.executable,
        "-m",
        "celery",
        "--app",
        "license_service",
        "worker",
        "--pool",
        "solo",
        "--without-gossip",
        "--without-mingle",
        "--loglevel",
        "INFO",
    ]
    logs = [tmp_path / f"worker{n}.log" for n in range(2)]
    procs = [
        subprocess.Popen(
            [*worker, "--hostname", f"w{n}@%h"],
            cwd=ROOT,
            env=env,
            stdout=logs[n].open("wb"),
            stderr=subprocess.STDOUT,
        )
        for n in range(2)
    ]
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            text = "".join(log.read_text(errors="replace") for log in logs)
            if text.count("] succeeded") >= 2:
                break
            time.sleep(0.5)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(30)
    text = "".join(log.read_text(errors="replace") for log in logs)
    assert text.count("licensing.tasks.announce_expired[") >= 2, text[-3000:]
    assert text.count("] succeeded") == 2, text[-3000:]
    assert Event.objects.filter(type="license.expired").count() == LICENSES
    assert Event.objects.values("data__license__license_id").distinct().count() == LICENSES

"""A Celery worker killed (SIGKILL) in the middle of a delivery (SPEC §13, at least once):
the receiver holds the request open, the worker process dies, another worker starts; the
event is delivered after the restart, nothing is lost, and the duplicate the receiver saw
carries the same ``webhook-id``.

Real worker processes (``celery worker``) on the filesystem transport, working on this
test's database: PostgreSQL only (SQLite's test database lives in this process's memory).
The test process plays beat, sending the ``dispatch`` and ``sweep`` tasks."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from celery import Celery
from django.db import connection, transaction
from standardwebhooks import Webhook

from bench.services import CeleryWorker, wait_until
from events.services import event_record
from tests.factories import WebhookEndpointFactory
from webhooks.models import WebhookDelivery

requires_postgres_for_workers = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs PostgreSQL: worker processes share the test database (SQLite's is in memory)",
)


def _worker_env(broker_dir: Path) -> dict[str, str]:
    """A worker on this test's database and a filesystem broker in ``broker_dir``. The
    claim of a killed worker lasts WEBHOOK_TIMEOUT * 2 + WEBHOOK_LEASE_MARGIN (7 s here,
    60 s by default) and the sweep re-queues after 1 s (300 s): the recovery fits a test."""
    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "license_service.settings.local",
        "DATABASE_URL": (
            f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
        ),
        "CELERY_BROKER_URL": "filesystem://",
        "CELERY_FILESYSTEM_DIR": str(broker_dir),
        "WEBHOOK_ALLOWED_NETWORKS": "127.0.0.1/32",
        "WEBHOOK_TIMEOUT": "3",
        "WEBHOOK_LEASE_MARGIN": "1",
        "WEBHOOK_REQUEUE_AFTER": "1",
        "LOG_LEVEL": "INFO",
    }
    if db.get("PASSWORD"):
        env["PGPASSWORD"] = db["PASSWORD"]
    env["REDIS_URL"] = ""  # none: the harness lays its env over this process's
    return env


def _beat(broker_dir: Path) -> Celery:
    """A client on the workers' filesystem broker: the test sends what beat would."""
    for folder in ("queue", "control"):
        (broker_dir / folder).mkdir(parents=True, exist_ok=True)
    return Celery(
        "beat-in-the-test",
        broker="filesystem://",
        broker_transport_options={
            "data_folder_in": str(broker_dir / "queue"),
            "data_folder_out": str(broker_dir / "queue"),
            "control_folder": str(broker_dir / "control"),
        },
    )


@requires_postgres_for_workers
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_delivery_leaves_the_event_to_the_next_worker_with_the_same_webhook_id(
    brand, receiver, tmp_path
):
    # The first request is held open far longer than the test; any later one is answered.
    receiver.plan = [("sleep", 60, 204), 204]
    endpoint = WebhookEndpointFactory.create(brand=brand, url=receiver.url)
    with transaction.atomic():
        event = event_record(type_="license.expired", brand_id=brand.pk, data={"n": 1})
    env = _worker_env(tmp_path / "broker")
    beat = _beat(tmp_path / "broker")
    # The pool in the worker's own process: SIGKILL cuts the delivery off mid-request.
    first = CeleryWorker(tmp_path, env, "first", concurrency=1, pool="solo")
    second = CeleryWorker(tmp_path, env, "second", concurrency=1, pool="solo")
    try:
        first.start(timeout=30)
        beat.send_task("webhooks.tasks.dispatch")
        assert wait_until(lambda: len(receiver.received) == 1, timeout=30), first.log.read_text(
            errors="replace"
        )[-3000:]
        delivery = WebhookDelivery.objects.get()
        assert (delivery.status, delivery.attempts) == ("pending", 0)
        assert delivery.claimed_until is not None  # the worker is sending it

        first.kill()  # mid-delivery: the receiver has the request, the worker never answers

        second.start(timeout=30)

        def swept_and_delivered() -> bool:
            beat.send_task("webhooks.tasks.sweep")
            return WebhookDelivery.objects.get().status == "succeeded"

        delivered = wait_until(swept_and_delivered, timeout=40, interval=1.0)
        assert delivered, second.log.read_text(errors="replace")[-3000:]
    finally:
        first.stop()
        second.stop()
    cut_off, again = receiver.received
    assert cut_off.headers["webhook-id"] == again.headers["webhook-id"] == str(event.pk)
    for hit in (cut_off, again):
        assert Webhook(endpoint.secret).verify(hit.body, hit.headers)["id"] == event.pk
    delivery = WebhookDelivery.objects.get()
    # The killed attempt was never recorded: one attempt, the one that succeeded.
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("succeeded", 1, 204)

"""Webhook work is safe with several workers and dispatchers at once: each (endpoint,
event) delivery is created once, a delivery is sent by one worker at a time; and a real
Celery worker delivers an event end to end."""

from __future__ import annotations

import threading
import time

import pytest
from celery.contrib.testing.worker import start_worker
from django.db import connection, transaction
from standardwebhooks import Webhook

from events.services import event_record
from license_service.celery import app
from tests.conftest import requires_postgres
from tests.factories import WebhookEndpointFactory
from webhooks import jobs
from webhooks.models import WebhookDelivery

EVENTS = 60


def _record(brand, n=EVENTS):
    with transaction.atomic():
        for i in range(n):
            event_record(type_="license.expired", brand_id=brand.pk, data={"n": i})


def _at_once(target, n=2):
    barrier = threading.Barrier(n)
    results: list = []

    def run() -> None:
        try:
            barrier.wait(10)
            results.append(target())
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_two_dispatchers_at_once_create_each_delivery_once(brand, receiver, allow_loopback):
    endpoints = WebhookEndpointFactory.create_batch(2, brand=brand, url=receiver.url)
    _record(brand)
    results = _at_once(lambda: jobs.webhooks_dispatch(batch=7))
    while jobs.webhooks_dispatch(batch=7):
        pass
    assert sum(results) <= EVENTS * len(endpoints)
    assert WebhookDelivery.objects.count() == EVENTS * len(endpoints)
    assert WebhookDelivery.objects.values("endpoint", "event").distinct().count() == EVENTS * 2


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_taking_the_same_delivery_send_it_once(brand, receiver, allow_loopback):
    receiver.plan = [("sleep", 0.3, 204)]
    WebhookEndpointFactory.create(brand=brand, url=receiver.url)
    _record(brand, n=1)
    jobs.webhooks_dispatch()
    delivery = WebhookDelivery.objects.get()
    outcomes = _at_once(lambda: jobs.webhook_deliver(delivery.pk))
    assert sorted(outcomes, key=str) == [None, "succeeded"]
    assert len(receiver.received) == 1


@pytest.mark.django_db(transaction=True)
def test_a_celery_worker_delivers_a_committed_event(brand, receiver, allow_loopback):
    endpoint = WebhookEndpointFactory.create(brand=brand, url=receiver.url)
    _record(brand, n=1)
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        app.send_task("webhooks.tasks.dispatch")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not receiver.received:
            time.sleep(0.1)
    assert len(receiver.received) == 1
    hit = receiver.received[0]
    assert Webhook(endpoint.secret).verify(hit.body, hit.headers)["data"] == {"n": 0}
    assert WebhookDelivery.objects.get().status == "succeeded"

"""Webhook delivery (SPEC §13): events become signed deliveries to a real receiver on
127.0.0.1, retried with backoff on a fake clock, an endpoint failing for 5 days is
disabled, redirects and slow answers are failures, and the SSRF rules hold at delivery
(a name that resolves elsewhere the second time is refused)."""

from __future__ import annotations

import json
import random
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone
from standardwebhooks import Webhook

from audit.models import AuditEvent
from events.models import Event
from events.services import event_record
from tests.factories import WebhookEndpointFactory
from webhooks import jobs
from webhooks.models import WebhookDelivery, WebhookEndpoint
from webhooks.services import url_check

pytestmark = pytest.mark.django_db


def jitter(seed):
    return random.Random(seed)  # noqa: S311 (the backoff's jitter, on a fixed seed)


def due_at(delivery):
    """When the delivery's next attempt is due (it has one)."""
    assert delivery.next_attempt_at is not None
    return delivery.next_attempt_at


def record(brand, type_="license.expired", data=None):
    with transaction.atomic():
        return event_record(type_=type_, brand_id=brand.pk, data=data or {"license": {"id": 1}})


def endpoint_for(brand, receiver, **fields):
    return WebhookEndpointFactory.create(brand=brand, url=receiver.url, **fields)


def deliver_all(now=None, rng=None):
    """What beat and the workers do: dispatch, then one attempt of each due delivery."""
    jobs.webhooks_dispatch(now=now)
    due = WebhookDelivery.objects.filter(status="pending").values_list("pk", flat=True)
    return [jobs.webhook_deliver(pk, now=now, rng=rng) for pk in list(due)]


def test_an_event_is_delivered_signed_and_verifies_with_the_standard_webhooks_library(
    brand, receiver, allow_loopback
):
    endpoint = endpoint_for(brand, receiver)
    event = record(brand, data={"license": {"license_id": 7}})
    assert deliver_all() == ["succeeded"]
    [hit] = receiver.received
    payload = Webhook(endpoint.secret).verify(hit.body, hit.headers)
    assert payload["id"] == event.pk
    assert payload["type"] == "license.expired"
    assert payload["brand"] == brand.slug
    assert payload["data"] == {"license": {"license_id": 7}}
    assert hit.headers["webhook-id"] == str(event.pk)
    assert hit.headers["webhook-signature"].startswith("v1,")
    assert hit.headers["content-type"] == "application/json"
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("succeeded", 1, 204)
    assert delivery.delivered_at is not None


def test_a_tampered_body_does_not_verify(brand, receiver, allow_loopback):
    endpoint = endpoint_for(brand, receiver)
    record(brand)
    deliver_all()
    hit = receiver.received[0]
    with pytest.raises(Exception, match="signature"):
        Webhook(endpoint.secret).verify(hit.body.replace(b"expired", b"renewed"), hit.headers)


def test_each_event_is_dispatched_once_even_when_dispatch_runs_twice(
    brand, receiver, allow_loopback
):
    endpoint_for(brand, receiver)
    record(brand)
    assert jobs.webhooks_dispatch() == 1
    assert jobs.webhooks_dispatch() == 0
    assert WebhookDelivery.objects.count() == 1


def test_other_brands_endpoints_never_receive_this_brands_events(
    brand, other_brand, receiver, allow_loopback
):
    endpoint_for(other_brand, receiver)
    record(brand)
    deliver_all()
    assert receiver.received == []
    assert not WebhookDelivery.objects.exists()


def test_an_endpoint_receives_only_the_types_it_asked_for(brand, receiver, allow_loopback):
    endpoint_for(brand, receiver, events=["activation.created"])
    record(brand, type_="license.expired")
    wanted = record(brand, type_="activation.created")
    deliver_all()
    assert [json.loads(h.body)["id"] for h in receiver.received] == [wanted.pk]


def test_disabled_endpoints_and_events_before_an_endpoint_existed_are_not_delivered(
    brand, receiver, allow_loopback
):
    record(brand)  # before the endpoint
    jobs.webhooks_dispatch()
    endpoint_for(brand, receiver, enabled=False)
    record(brand)
    deliver_all()
    assert receiver.received == []


def test_failures_are_retried_with_growing_jittered_waits_until_success(
    brand, receiver, allow_loopback
):
    receiver.plan = [500, 503, 204]
    endpoint = endpoint_for(brand, receiver)
    record(brand)
    rng = jitter(7)
    now = timezone.now()
    assert deliver_all(now=now, rng=rng) == ["http_error"]
    delivery = WebhookDelivery.objects.get()
    first_wait = due_at(delivery) - now
    assert timedelta(seconds=1) <= first_wait <= timedelta(seconds=6)
    assert delivery.last_error == "HTTP 500."
    # Not due yet: nothing is sent.
    assert jobs.webhook_deliver(delivery.pk, now=now) is None
    now = due_at(delivery)
    assert jobs.webhook_deliver(delivery.pk, now=now, rng=rng) == "http_error"
    delivery.refresh_from_db()
    assert due_at(delivery) - now <= timedelta(minutes=5, seconds=1)
    endpoint.refresh_from_db()
    assert endpoint.failing_since is not None
    assert jobs.webhook_deliver(delivery.pk, now=delivery.next_attempt_at, rng=rng) == "succeeded"
    delivery.refresh_from_db()
    endpoint.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("succeeded", 3)
    assert endpoint.failing_since is None
    # Every attempt carried the same webhook-id.
    assert len({h.headers["webhook-id"] for h in receiver.received}) == 1


def test_retry_caps_grow_and_span_at_least_three_days():
    caps = jobs.RETRY_CAPS
    assert list(caps) == sorted(caps)
    assert all(jobs.retry_wait(n, jitter(n)) <= caps[min(n, len(caps)) - 1] for n in range(1, 20))


def test_a_delivery_is_given_up_only_after_three_days_and_ten_attempts(
    brand, receiver, allow_loopback
):
    receiver.plan = [500]
    endpoint_for(brand, receiver)
    record(brand)
    rng = jitter(1)
    start = timezone.now()
    now = start
    jobs.webhooks_dispatch(now=now)
    delivery = WebhookDelivery.objects.get()
    while True:
        assert jobs.webhook_deliver(delivery.pk, now=now, rng=rng) == "http_error"
        delivery.refresh_from_db()
        if delivery.status != "pending":
            break
        now = due_at(delivery)
    assert delivery.status == "failed"
    assert delivery.attempts >= jobs.MIN_ATTEMPTS
    assert delivery.last_attempt_at is not None
    assert delivery.last_attempt_at - start >= timedelta(days=3)


def test_an_endpoint_failing_for_five_days_is_disabled_with_a_webhook_disabled_event(
    brand, receiver, allow_loopback
):
    receiver.plan = [500]
    endpoint = endpoint_for(brand, receiver)
    record(brand)
    now = timezone.now()
    deliver_all(now=now)
    endpoint.refresh_from_db()
    assert endpoint.failing_since is not None
    jobs.webhooks_sweep(now=now + timedelta(days=4, hours=23))
    endpoint.refresh_from_db()
    assert endpoint.enabled is True
    jobs.webhooks_sweep(now=endpoint.failing_since + timedelta(days=5, seconds=1))
    endpoint.refresh_from_db()
    assert endpoint.enabled is False
    assert endpoint.disabled_at is not None
    event = Event.objects.get(type="webhook.disabled")
    assert event.brand_id == brand.pk
    assert event.data["webhook"]["id"] == endpoint.pk
    assert AuditEvent.objects.filter(action="webhook.disabled", actor="webhooks").count() == 1
    # A second sweep disables nothing twice.
    jobs.webhooks_sweep(now=endpoint.failing_since + timedelta(days=6))
    assert Event.objects.filter(type="webhook.disabled").count() == 1


def test_a_redirect_is_not_followed_and_counts_as_a_failure(brand, receiver, allow_loopback):
    receiver.plan = [("redirect", "http://127.0.0.1:1/elsewhere")]
    endpoint_for(brand, receiver)
    record(brand)
    assert deliver_all() == ["redirect"]
    assert len(receiver.received) == 1
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.last_status_code) == ("pending", 302)
    assert "not followed" in delivery.last_error


def test_a_receiver_slower_than_the_timeout_is_a_failure(brand, receiver, allow_loopback, settings):
    settings.WEBHOOK_TIMEOUT = 0.5
    receiver.plan = [("sleep", 2, 204)]
    endpoint_for(brand, receiver)
    record(brand)
    assert deliver_all() == ["timeout"]
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "pending"
    assert delivery.last_error.startswith("Timed out")


def test_a_name_that_rebinds_to_loopback_is_refused_at_delivery(brand, receiver, resolver):
    # Accepted at creation (a public address), then the name answers 127.0.0.1.
    resolver({"rebind.example.com": [["93.184.216.34"], ["127.0.0.1"]]})
    url = f"http://rebind.example.com:{receiver.port}/hook"
    url_check(url)
    WebhookEndpointFactory.create(brand=brand, url=url)
    record(brand)
    assert deliver_all() == ["refused"]
    assert receiver.received == []
    delivery = WebhookDelivery.objects.get()
    assert "loopback" in delivery.last_error


def test_delivery_connects_to_the_checked_address_with_the_hostname_as_host(
    brand, receiver, resolver, allow_loopback
):
    resolver({"hooks.internal.test": ["127.0.0.1"]})
    WebhookEndpointFactory.create(brand=brand, url=f"http://hooks.internal.test:{receiver.port}/in")
    record(brand)
    assert deliver_all() == ["succeeded"]
    [hit] = receiver.received
    assert hit.headers["host"] == f"hooks.internal.test:{receiver.port}"
    assert hit.path == "/in"
    assert resolver.calls.count("hooks.internal.test") == 1  # resolved once, at delivery


def test_without_the_allowed_network_loopback_is_refused_at_delivery(brand, receiver):
    endpoint_for(brand, receiver)
    record(brand)
    assert deliver_all() == ["refused"]
    assert receiver.received == []


def test_manual_retry_sends_a_delivered_event_again_with_the_same_webhook_id(
    brand, receiver, allow_loopback, brand_client
):
    endpoint_for(brand, receiver)
    record(brand)
    deliver_all()
    delivery = WebhookDelivery.objects.get()
    response = brand_client.post(f"/api/v1/brand/webhooks/deliveries/{delivery.pk}/retry")
    assert response.status_code == 202
    assert jobs.webhook_deliver(delivery.pk) == "succeeded"
    assert [h.headers["webhook-id"] for h in receiver.received] == [delivery.message_id] * 2
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("succeeded", 2)


def test_a_test_send_reaches_the_receiver_once_and_verifies(
    brand, receiver, allow_loopback, brand_client
):
    receiver.plan = [500]
    endpoint = endpoint_for(brand, receiver)
    body = brand_client.post(f"/api/v1/brand/webhooks/{endpoint.pk}/test").json()
    assert jobs.webhook_deliver(body["id"]) == "http_error"
    [hit] = receiver.received
    payload = Webhook(endpoint.secret).verify(hit.body, hit.headers)
    assert payload["type"] == "webhook.test"
    assert hit.headers["webhook-id"] == body["message_id"]
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "failed"  # a test send is not retried
    endpoint.refresh_from_db()
    assert endpoint.failing_since is None  # nor does it count against the endpoint


def test_the_sweep_queues_due_deliveries_again_when_their_message_was_lost(
    brand, receiver, allow_loopback, settings
):
    endpoint_for(brand, receiver)
    record(brand)
    now = timezone.now()
    jobs.webhooks_dispatch(now=now)
    # The dispatch's message counts as queued: the sweep leaves it alone for a while...
    assert jobs.webhooks_sweep(now=now + timedelta(seconds=10)) == 0
    # ...then takes it as lost and queues it again, once.
    later = now + settings.WEBHOOK_REQUEUE_AFTER + timedelta(seconds=1)
    assert jobs.webhooks_sweep(now=later) == 1
    assert jobs.webhooks_sweep(now=later) == 0


def test_a_claimed_delivery_is_not_sent_twice_until_its_lease_passes(
    brand, receiver, allow_loopback
):
    endpoint_for(brand, receiver)
    record(brand)
    now = timezone.now()
    jobs.webhooks_dispatch(now=now)
    delivery = WebhookDelivery.objects.get()
    # A worker claimed it and died mid-send.
    WebhookDelivery.objects.filter(pk=delivery.pk).update(claimed_until=now + timedelta(seconds=60))
    assert jobs.webhook_deliver(delivery.pk, now=now) is None
    assert jobs.webhook_deliver(delivery.pk, now=now + timedelta(seconds=61)) == "succeeded"
    assert len(receiver.received) == 1


def test_old_finished_deliveries_are_purged_by_the_job_and_the_command(brand, settings):
    endpoint = WebhookEndpointFactory.create(brand=brand)
    old = timezone.now() - timedelta(days=settings.WEBHOOK_DELIVERY_LOG_DAYS + 1)
    for status in ("succeeded", "failed", "pending"):
        WebhookDelivery.objects.create(
            endpoint=endpoint,
            event_type="webhook.test",
            message_id=status,
            status=status,
            updated_at=old,
        )
    WebhookDelivery.objects.create(endpoint=endpoint, event_type="webhook.test", message_id="new")
    assert jobs.webhook_deliveries_purge() == 2
    assert sorted(WebhookDelivery.objects.values_list("message_id", flat=True)) == [
        "new",
        "pending",
    ]
    WebhookDelivery.objects.filter(message_id="new").update(status="succeeded", updated_at=old)
    call_command("purge_webhook_deliveries")
    assert list(WebhookDelivery.objects.values_list("message_id", flat=True)) == ["pending"]


def test_metrics_show_queue_depth_oldest_ages_and_attempts_by_outcome(
    brand, receiver, allow_loopback, api_client
):
    receiver.plan = [500]
    endpoint_for(brand, receiver)
    record(brand)
    text = api_client.get("/metrics").content.decode()
    assert "webhook_pending_deliveries 0.0" in text
    assert "webhook_oldest_undispatched_event_age_seconds" in text
    deliver_all()
    text = api_client.get("/metrics").content.decode()
    assert "webhook_pending_deliveries 1.0" in text
    assert 'webhook_attempts_total{outcome="http_error"}' in text
    assert "webhook_oldest_undispatched_event_age_seconds 0.0" in text
    line = next(
        row
        for row in text.splitlines()
        if row.startswith("webhook_oldest_pending_delivery_age_seconds ")
    )
    assert float(line.split()[1]) >= 0.0
    assert WebhookEndpoint.objects.count() == 1

"""The staff console's webhook pages (SPEC §13: endpoints with their delivery log, retry)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from audit.models import AuditEvent
from tests.factories import WebhookEndpointFactory
from webhooks.models import WebhookDelivery

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(staff_user: Any) -> Client:
    client = Client()
    client.force_login(staff_user)
    return client


def test_an_endpoint_page_lists_its_deliveries_and_never_its_secret(admin_client, brand):
    endpoint = WebhookEndpointFactory.create(brand=brand)
    WebhookDelivery.objects.create(
        endpoint=endpoint, event_type="webhook.test", message_id="test_abc", last_error="HTTP 500."
    )
    page = admin_client.get(reverse("admin:webhooks_webhookendpoint_change", args=[endpoint.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert "test_abc" in html
    assert "HTTP 500." in html
    assert endpoint.secret not in html
    listing = admin_client.get(reverse("admin:webhooks_webhookendpoint_changelist"))
    assert listing.status_code == 200


def test_the_retry_action_queues_deliveries_again_with_the_staff_user_as_actor(admin_client, brand):
    endpoint = WebhookEndpointFactory.create(brand=brand)
    delivery = WebhookDelivery.objects.create(
        endpoint=endpoint, event_type="webhook.test", message_id="m", status="failed"
    )
    response = admin_client.post(
        reverse("admin:webhooks_webhookdelivery_changelist"),
        {"action": "retry", "_selected_action": [delivery.pk]},
    )
    assert response.status_code == 302
    delivery.refresh_from_db()
    assert delivery.status == "pending"
    assert AuditEvent.objects.get(action="webhook.delivery_retried").actor == "ops"


def test_the_disable_action_disables_through_the_service(admin_client, brand):
    endpoint = WebhookEndpointFactory.create(brand=brand)
    admin_client.post(
        reverse("admin:webhooks_webhookendpoint_changelist"),
        {"action": "disable", "_selected_action": [endpoint.pk]},
    )
    endpoint.refresh_from_db()
    assert endpoint.enabled is False
    assert AuditEvent.objects.filter(action="webhook.updated", actor="ops").exists()

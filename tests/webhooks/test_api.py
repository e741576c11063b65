"""Brand API of webhooks (SPEC §13): endpoints, the secret shown once, the URL rules at
creation, brand isolation, the delivery log, test sends and retries."""

from __future__ import annotations

import pytest
from standardwebhooks import Webhook

from audit.models import AuditEvent
from tests.conftest import make_brand_client
from tests.factories import WebhookEndpointFactory
from webhooks.models import WebhookDelivery, WebhookEndpoint

pytestmark = pytest.mark.django_db
URL = "/api/v1/brand/webhooks"


@pytest.fixture(autouse=True)
def _names(resolver):
    resolver(
        {
            "hooks.example.com": ["93.184.216.34"],
            "internal.example.com": ["93.184.216.34", "10.0.0.7"],
            "metadata.example.com": ["169.254.169.254"],
        }
    )


def create(client, **body):
    return client.post(URL, {"url": "https://hooks.example.com/in", **body}, format="json")


def test_creating_an_endpoint_answers_201_with_a_whsec_secret_shown_once(brand_client, brand):
    response = create(brand_client, events=["license.expired"], description="CRM")
    assert response.status_code == 201
    body = response.json()
    assert body["secret"].startswith("whsec_")
    Webhook(body["secret"])  # a secret the Standard Webhooks library accepts
    assert body["events"] == ["license.expired"]
    assert body["enabled"] is True
    detail = brand_client.get(f"{URL}/{body['id']}").json()
    assert "secret" not in detail
    assert detail["url"] == "https://hooks.example.com/in"
    listed = brand_client.get(URL).json()["results"]
    assert [e["id"] for e in listed] == [body["id"]]
    assert "secret" not in listed[0]
    assert AuditEvent.objects.filter(action="webhook.created", target_id=str(body["id"])).exists()


def test_an_empty_events_list_means_every_type(brand_client):
    body = create(brand_client).json()
    assert body["events"] == []


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://127.0.0.1/hook", "loopback"),
        ("https://10.1.2.3/hook", "private"),
        ("https://169.254.169.254/latest/meta-data", "metadata"),
        ("https://[fd00:ec2::254]/", "metadata"),
        ("https://[::1]/", "loopback"),
        ("https://[fc00::5]/", "private"),
        ("https://0.0.0.0/", "unspecified"),
        ("https://224.0.0.1/", "multicast"),
        ("https://internal.example.com/", "private"),
        ("https://metadata.example.com/", "metadata"),
        ("https://nowhere.example.com/", "does not resolve"),
        ("ftp://hooks.example.com/", "https"),
        ("https://user:pw@hooks.example.com/", "credentials"),
        ("https:///no-host", "host"),
        ("not a url", "spaces"),
        ("https://hooks.example.com/" + "a" * 2000, "2000"),
    ],
)
def test_urls_that_break_the_rules_are_refused_naming_url(brand_client, url, reason):
    response = create(brand_client, url=url)
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "validation_error"
    assert reason in " ".join(body["details"]["url"])
    assert not WebhookEndpoint.objects.exists()


def test_plain_http_is_refused_unless_allowed(brand_client, settings):
    settings.WEBHOOK_ALLOW_HTTP = False
    response = create(brand_client, url="http://hooks.example.com/in")
    assert response.status_code == 400
    assert "https" in response.json()["details"]["url"][0]
    settings.WEBHOOK_ALLOW_HTTP = True
    assert create(brand_client, url="http://hooks.example.com/in").status_code == 201


def test_an_allowed_network_may_receive_webhooks(brand_client, settings):
    settings.WEBHOOK_ALLOWED_NETWORKS = ["10.0.0.0/8"]
    assert create(brand_client, url="https://10.1.2.3/hook").status_code == 201


def test_unknown_event_types_are_refused(brand_client):
    response = create(brand_client, events=["license.expired", "license.exploded"])
    assert response.status_code == 400
    # The item is named by its place in the list (SPEC §3's dotted paths).
    assert response.json()["details"] == {"events.1": ['"license.exploded" is not a valid choice.']}


def test_patch_changes_events_url_description_and_enabled(brand_client):
    created = create(brand_client).json()
    response = brand_client.patch(
        f"{URL}/{created['id']}",
        {"events": ["activation.created"], "enabled": False, "description": "off"},
        format="json",
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["events"], body["enabled"], body["description"]) == (
        ["activation.created"],
        False,
        "off",
    )
    refused = brand_client.patch(
        f"{URL}/{created['id']}", {"url": "https://10.0.0.1/"}, format="json"
    )
    assert refused.status_code == 400
    assert "url" in refused.json()["details"]
    assert AuditEvent.objects.filter(action="webhook.updated").count() == 1


def test_enabling_a_disabled_endpoint_clears_its_failure_record(brand_client, brand):
    endpoint = WebhookEndpointFactory.create(brand=brand, enabled=False)
    endpoint.failing_since = endpoint.disabled_at = endpoint.created_at
    endpoint.save()
    body = brand_client.patch(f"{URL}/{endpoint.pk}", {"enabled": True}, format="json").json()
    assert body["enabled"] is True
    assert body["failing_since"] is None
    assert body["disabled_at"] is None


def test_delete_removes_the_endpoint_and_its_log(brand_client, brand):
    endpoint = WebhookEndpointFactory.create(brand=brand)
    WebhookDelivery.objects.create(endpoint=endpoint, event_type="webhook.test", message_id="m")
    assert brand_client.delete(f"{URL}/{endpoint.pk}").status_code == 204
    assert not WebhookEndpoint.objects.exists()
    assert not WebhookDelivery.objects.exists()
    assert AuditEvent.objects.filter(action="webhook.deleted").exists()


def test_another_brands_endpoint_and_delivery_are_404(brand_client, other_brand):
    endpoint = WebhookEndpointFactory.create(brand=other_brand)
    delivery = WebhookDelivery.objects.create(
        endpoint=endpoint, event_type="webhook.test", message_id="m"
    )
    for response in (
        brand_client.get(f"{URL}/{endpoint.pk}"),
        brand_client.patch(f"{URL}/{endpoint.pk}", {"enabled": False}, format="json"),
        brand_client.delete(f"{URL}/{endpoint.pk}"),
        brand_client.post(f"{URL}/{endpoint.pk}/test"),
        brand_client.get(f"{URL}/{endpoint.pk}/deliveries"),
        brand_client.post(f"{URL}/deliveries/{delivery.pk}/retry"),
    ):
        assert response.status_code == 404
        assert response.json()["error"] == "not_found"
    assert brand_client.get(URL).json()["results"] == []
    endpoint.refresh_from_db()
    assert endpoint.enabled is True


def test_test_send_queues_a_webhook_test_delivery(brand_client, brand):
    endpoint = WebhookEndpointFactory.create(brand=brand)
    response = brand_client.post(f"{URL}/{endpoint.pk}/test")
    assert response.status_code == 202
    body = response.json()
    assert body["event_type"] == "webhook.test"
    assert body["event_id"] is None
    assert body["status"] == "pending"
    assert body["message_id"].startswith("test_")
    log = brand_client.get(f"{URL}/{endpoint.pk}/deliveries").json()["results"]
    assert [d["id"] for d in log] == [body["id"]]


def test_retry_makes_a_failed_delivery_pending_again(brand_client, brand):
    endpoint = WebhookEndpointFactory.create(brand=brand)
    delivery = WebhookDelivery.objects.create(
        endpoint=endpoint,
        event_type="webhook.test",
        message_id="m",
        status=WebhookDelivery.Status.FAILED,
        attempts=3,
    )
    response = brand_client.post(f"{URL}/deliveries/{delivery.pk}/retry")
    assert response.status_code == 202
    assert response.json()["status"] == "pending"
    assert response.json()["attempts"] == 3
    delivery.refresh_from_db()
    assert delivery.next_attempt_at is not None
    assert AuditEvent.objects.filter(action="webhook.delivery_retried").exists()


def test_reads_need_the_read_scope_and_writes_the_write_scope(brand):
    reader = make_brand_client(brand, scopes=["licenses:read"])
    assert reader.get(URL).status_code == 200
    assert create(reader).status_code == 403


@pytest.mark.parametrize(
    "body",
    [{}, {"enabled": "yes"}, {"description": 5}, {"events": "license.expired"}, {"events": [1]}],
)
def test_a_patch_with_nothing_to_change_or_a_wrong_type_is_refused(brand_client, brand, body):
    endpoint = WebhookEndpointFactory.create(brand=brand)
    response = brand_client.patch(f"{URL}/{endpoint.pk}", body, format="json")
    assert response.status_code == 400
    assert response.json()["error"] == "validation_error"

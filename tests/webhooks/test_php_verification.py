"""The dependency-free PHP verification in README ("Webhooks"; the file
docs/webhooks/verify.php, quoted there word for word) accepts a delivery our code signed
and sent to a real receiver, and refuses a tampered body, another secret, a stale
timestamp and missing headers. Runs ``php`` (php-cli, installed by scripts/test_tools.sh)."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.db import transaction

from events.services import event_record
from tests.factories import WebhookEndpointFactory
from webhooks import jobs
from webhooks.delivery import signed_headers
from webhooks.models import WebhookDelivery
from webhooks.services import generate_secret

ROOT = Path(__file__).resolve().parents[2]
VERIFY_PHP = ROOT / "docs" / "webhooks" / "verify.php"
DRIVER = """
require getenv('VERIFY_PHP');
$in = json_decode(stream_get_contents(STDIN), true);
try {
    $event = verify_webhook($in['secret'], base64_decode($in['body']), $in['headers']);
    echo json_encode(['ok' => true, 'event' => $event]);
} catch (RuntimeException $e) {
    echo json_encode(['ok' => false, 'error' => $e->getMessage()]);
}
"""

requires_php = pytest.mark.skipif(shutil.which("php") is None, reason="needs php-cli")


def php_verify(secret: str, body: bytes, headers: dict[str, str]) -> dict:
    php = subprocess.run(
        [shutil.which("php") or "php", "-r", DRIVER],
        input=json.dumps(
            {"secret": secret, "body": base64.b64encode(body).decode(), "headers": headers}
        ).encode(),
        env={"VERIFY_PHP": str(VERIFY_PHP), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert php.returncode == 0, php.stderr.decode()
    assert php.stderr == b""
    return json.loads(php.stdout)


@pytest.fixture
def delivered(brand, receiver, allow_loopback):
    """A real delivery: an event, dispatched and sent by our code to the receiver."""
    endpoint = WebhookEndpointFactory.create(brand=brand, url=receiver.url)
    with transaction.atomic():
        event = event_record(
            type_="license.suspended", brand_id=brand.pk, data={"license": {"note": "é ✓"}}
        )
    jobs.webhooks_dispatch()
    [delivery_id] = WebhookDelivery.objects.values_list("pk", flat=True)
    assert jobs.webhook_deliver(delivery_id) == "succeeded"
    [hit] = receiver.received
    return endpoint, event, hit


def test_the_readme_quotes_the_tested_php_file_word_for_word():
    readme = (ROOT / "README.md").read_text()
    assert VERIFY_PHP.read_text() in readme


@requires_php
@pytest.mark.django_db
def test_php_without_a_library_verifies_a_delivery_our_code_signed(delivered):
    endpoint, event, hit = delivered
    # Header names as PHP's getallheaders() may spell them.
    headers = {name.title(): value for name, value in hit.headers.items()}
    answer = php_verify(endpoint.secret, hit.body, headers)
    assert answer["ok"], answer
    assert answer["event"]["id"] == event.pk
    assert answer["event"]["type"] == "license.suspended"
    assert answer["event"]["data"] == {"license": {"note": "é ✓"}}


@requires_php
@pytest.mark.django_db
def test_php_without_a_library_refuses_a_tampered_body_and_another_secret(delivered):
    endpoint, _, hit = delivered
    tampered = hit.body.replace(b"license.suspended", b"license.resumed")
    assert php_verify(endpoint.secret, tampered, hit.headers) == {
        "ok": False,
        "error": "no matching signature",
    }
    assert php_verify(generate_secret(), hit.body, hit.headers)["ok"] is False


@requires_php
@pytest.mark.django_db
def test_php_without_a_library_refuses_a_stale_timestamp_and_missing_headers(delivered):
    endpoint, event, hit = delivered
    stale = signed_headers(
        secret=endpoint.secret,
        message_id=str(event.pk),
        timestamp=datetime.now(UTC) - timedelta(minutes=10),
        body=hit.body,
    )
    assert php_verify(endpoint.secret, hit.body, stale) == {
        "ok": False,
        "error": "timestamp too old or too new",
    }
    without_id = {k: v for k, v in hit.headers.items() if k != "webhook-id"}
    assert php_verify(endpoint.secret, hit.body, without_id)["error"] == "missing webhook headers"


@requires_php
@pytest.mark.django_db
def test_php_without_a_library_accepts_any_of_several_signatures(delivered):
    """Standard Webhooks sends several space-separated signatures while a secret rotates."""
    endpoint, _, hit = delivered
    headers = {
        **hit.headers,
        "webhook-signature": "v1,bm90IGl0 " + hit.headers["webhook-signature"],
    }
    assert php_verify(endpoint.secret, hit.body, headers)["ok"] is True

"""The fault suite's webhook receiver (bench/faults/receiver.py) verifies every delivery
with the Standard Webhooks library, records it, and counts duplicates by event and
webhook-id, as scenarios 11-14 judge by it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest

from bench.faults.receiver import Receiver, first_receipts
from webhooks.delivery import signed_headers
from webhooks.services import generate_secret


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    running.start()
    yield running
    running.stop()


def post(receiver: Receiver, name: str, secret: str, event_id: int, webhook_id: str) -> int:
    body = json.dumps({"id": event_id, "created_at": "2026-01-01T00:00:00Z"}).encode()
    headers = signed_headers(
        secret=secret, message_id=webhook_id, timestamp=datetime.now(UTC), body=body
    )
    return httpx.post(receiver.url(name), content=body, headers=headers, timeout=5).status_code


def test_a_signed_delivery_is_recorded_as_valid_with_its_event_and_webhook_id(receiver):
    hook = receiver.hook("a")
    hook.secret = generate_secret()
    assert post(receiver, "a", hook.secret, 7, "7") == 204
    [receipt] = receiver.snapshot()
    assert (receipt.endpoint, receipt.webhook_id, receipt.event_id, receipt.valid) == (
        "a",
        "7",
        7,
        True,
    )
    assert receipt.created_at == datetime(2026, 1, 1, tzinfo=UTC).timestamp()
    assert receiver.delivered("a") == {7}


def test_a_delivery_signed_with_another_secret_is_recorded_as_invalid_and_not_delivered(
    receiver,
):
    receiver.hook("a").secret = generate_secret()
    post(receiver, "a", generate_secret(), 7, "7")
    assert receiver.invalid() == 1
    assert receiver.delivered("a") == set()


def test_duplicates_are_counted_and_those_with_another_webhook_id_told_apart(receiver):
    hook = receiver.hook("a")
    hook.secret = generate_secret()
    for event_id, webhook_id in [(1, "1"), (1, "1"), (2, "2"), (2, "other")]:
        post(receiver, "a", hook.secret, event_id, webhook_id)
    assert receiver.duplicates("a") == (2, 1)
    assert sorted(first_receipts(receiver.snapshot())) == [1, 2]


def test_a_failing_hook_answers_500_and_still_records_what_arrived(receiver):
    hook = receiver.hook("down", mode="failing")
    hook.secret = generate_secret()
    assert post(receiver, "down", hook.secret, 3, "3") == 500
    assert receiver.counts() == {"down": 1}

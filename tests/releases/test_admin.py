"""The releases admin: listed per product, publish and yank through the services."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse

from audit.models import AuditEvent
from tests.releases.conftest import create_release

CHANGELIST = "admin:releases_release_changelist"


@pytest.fixture
def admin_client(staff_user: Any) -> Client:
    client = Client()
    client.force_login(staff_user)
    return client


def run_action(client: Client, action: str, *releases: Any) -> list[str]:
    response = client.post(
        reverse(CHANGELIST),
        {"action": action, "index": 0, "_selected_action": [r.pk for r in releases]},
        follow=True,
    )
    assert response.status_code == 200
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_changelist_lists_a_products_releases(admin_client, product):
    release = create_release(product, "1.2.0")
    response = admin_client.get(reverse(CHANGELIST), {"product__id__exact": product.pk})
    assert response.status_code == 200
    page = response.content.decode()
    assert "1.2.0" in page
    assert release.sha256[:12] in page


def test_publish_and_yank_actions_call_the_services(admin_client, product):
    release = create_release(product, "1.2.0")
    assert "Published 1 release(s)." in run_action(admin_client, "publish", release)
    release.refresh_from_db()
    assert release.published_at is not None
    assert "Yanked 1 release(s)." in run_action(admin_client, "yank", release)
    release.refresh_from_db()
    assert release.yanked_at is not None
    notes = run_action(admin_client, "publish", release)
    assert any(f"Release {release.pk}:" in note for note in notes)
    staff_actions = AuditEvent.objects.filter(actor_type="staff").values_list("action", flat=True)
    assert set(staff_actions) == {"release.published", "release.yanked"}

"""A license's webhook deliveries and signing keys on its console page (SPEC §15): the
webhooks room renders its panel into the license page (no import between the two rooms),
in bounded queries, with a retry button for staff who may retry."""

from __future__ import annotations

import importlib
import re
from datetime import timedelta
from typing import Any

import pytest
from django.apps import apps as django_apps
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import Actor
from brands.services import signing_key_current, signing_key_rotate
from events.models import Event
from events.services import event_record
from licensing import services
from licensing.models import License
from tests.factories import LicenseFactory, WebhookEndpointFactory
from webhooks.admin import LICENSE_PANEL_DELIVERIES
from webhooks.models import WebhookDelivery, WebhookEndpoint

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(staff_user: Any) -> Client:
    client = Client()
    client.force_login(staff_user)
    return client


def staff(*codenames: str) -> Client:
    user = get_user_model().objects.create_user(username="agent", password="pw", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    client = Client()
    client.force_login(user)
    return client


def page_of(license_: License) -> str:
    return reverse("admin:licensing_license_change", args=[license_.pk])


def deliver(endpoint: WebhookEndpoint, event: Event, **fields: Any) -> WebhookDelivery:
    delivery: WebhookDelivery = WebhookDelivery.objects.create(
        endpoint=endpoint,
        event=event,
        event_type=event.type,
        message_id=f"evt_{event.pk}",
        **fields,
    )
    return delivery


def suspended_and_resumed(license_: License, endpoint: WebhookEndpoint) -> list[WebhookDelivery]:
    """Two events of the license (its services write them), each delivered to ``endpoint``."""
    services.license_suspend(license_=license_, actor=Actor.staff("ann"))
    services.license_resume(license_=license_, actor=Actor.staff("ann"))
    return [deliver(endpoint, event) for event in Event.objects.filter(license_id=license_.pk)]


def test_a_license_page_shows_its_deliveries_and_not_another_licenses(admin_client, product):
    license_ = LicenseFactory.create(product=product)
    other = LicenseFactory.create(product=product)
    endpoint = WebhookEndpointFactory.create(brand=product.brand, url="https://hooks.example.com/a")
    suspended, resumed = suspended_and_resumed(license_, endpoint)
    WebhookDelivery.objects.filter(pk=suspended.pk).update(
        status="failed", attempts=8, last_status_code=500, last_attempt_at=timezone.now()
    )
    (elsewhere,) = suspended_and_resumed(other, endpoint)[:1]

    html = admin_client.get(page_of(license_)).content.decode()

    assert "Webhook deliveries" in html
    assert "https://hooks.example.com/a" in html
    assert "license.suspended" in html
    assert "license.resumed" in html
    assert "failed (HTTP 500)" in html
    for delivery in (suspended, resumed):
        assert reverse("admin:webhooks_webhookdelivery_change", args=[delivery.pk]) in html
    assert reverse("admin:webhooks_webhookdelivery_change", args=[elsewhere.pk]) not in html
    assert f"?license_id={license_.pk}" in html


def test_the_full_list_link_filters_the_deliveries_by_license(admin_client, product):
    license_ = LicenseFactory.create(product=product)
    other = LicenseFactory.create(product=product)
    endpoint = WebhookEndpointFactory.create(brand=product.brand)
    mine = suspended_and_resumed(license_, endpoint)
    theirs = suspended_and_resumed(other, endpoint)
    listing = admin_client.get(
        reverse("admin:webhooks_webhookdelivery_changelist"), {"license_id": license_.pk}
    )
    assert listing.status_code == 200
    shown = {delivery.pk for delivery in listing.context["cl"].result_list}
    assert shown == {delivery.pk for delivery in mine}
    assert not shown & {delivery.pk for delivery in theirs}


def test_a_license_id_that_is_no_number_lists_nothing(admin_client, product):
    license_ = LicenseFactory.create(product=product)
    suspended_and_resumed(license_, WebhookEndpointFactory.create(brand=product.brand))
    listing = admin_client.get(
        reverse("admin:webhooks_webhookdelivery_changelist"), {"license_id": "1x"}
    )
    assert listing.status_code == 200
    assert list(listing.context["cl"].result_list) == []


def test_the_panel_costs_the_same_queries_for_three_deliveries_or_sixty(admin_client, product):
    few = LicenseFactory.create(product=product)
    many = LicenseFactory.create(product=product)
    endpoints = WebhookEndpointFactory.create_batch(3, brand=product.brand)
    suspended_and_resumed(few, endpoints[0])
    suspended_and_resumed(many, endpoints[0])
    with transaction.atomic():
        events = [
            event_record(
                type_="license.renewed",
                brand_id=product.brand_id,
                data={"license": {"license_id": many.pk}},
                license_id=many.pk,
            )
            for _ in range(20)
        ]
    for endpoint in endpoints:
        for event in events:
            deliver(endpoint, event)

    def queries(license_: License) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert admin_client.get(page_of(license_)).status_code == 200
        return len(captured)

    queries(few)  # the first page of a test fills caches (content types, …)
    assert queries(few) == queries(many)
    html = admin_client.get(page_of(many)).content.decode()
    shown = re.findall(r"/admin/webhooks/webhookdelivery/(\d+)/change/", html)
    assert len(set(shown)) == LICENSE_PANEL_DELIVERIES
    assert html.count(">Retry</button>") == LICENSE_PANEL_DELIVERIES


def test_the_retry_button_is_there_only_for_staff_who_may_retry(product):
    license_ = LicenseFactory.create(product=product)
    suspended_and_resumed(license_, WebhookEndpointFactory.create(brand=product.brand))
    reader = staff("view_license", "view_webhookdelivery")
    html = reader.get(page_of(license_)).content.decode()
    assert "license.suspended" in html
    assert ">Retry</button>" not in html
    retrier = Permission.objects.get(codename="retry_webhookdelivery")
    get_user_model().objects.get(username="agent").user_permissions.add(retrier)
    assert ">Retry</button>" in reader.get(page_of(license_)).content.decode()


def test_staff_who_may_not_read_deliveries_see_no_deliveries(product):
    license_ = LicenseFactory.create(product=product)
    endpoint = WebhookEndpointFactory.create(brand=product.brand, url="https://hooks.example.com/")
    suspended_and_resumed(license_, endpoint)
    html = staff("view_license").get(page_of(license_)).content.decode()
    assert "You may not read webhook deliveries." in html
    assert "https://hooks.example.com/" not in html


def test_the_retry_button_queues_the_delivery_again_and_comes_back(admin_client, product):
    license_ = LicenseFactory.create(product=product)
    delivery, _ = suspended_and_resumed(
        license_, WebhookEndpointFactory.create(brand=product.brand)
    )
    WebhookDelivery.objects.filter(pk=delivery.pk).update(status="failed", attempts=8)
    response = admin_client.post(
        reverse("admin:webhooks_webhookdelivery_retry", args=[delivery.pk]),
        {"next": page_of(license_)},
    )
    assert response.status_code == 302
    assert response["Location"] == page_of(license_)
    delivery.refresh_from_db()
    assert delivery.status == "pending"
    retried = AuditEvent.objects.get(action="webhook.delivery_retried")
    assert (retried.actor_type, retried.actor) == ("staff", "ops")


def test_the_retry_button_never_sends_anyone_off_site(admin_client, product):
    license_ = LicenseFactory.create(product=product)
    delivery, _ = suspended_and_resumed(
        license_, WebhookEndpointFactory.create(brand=product.brand)
    )
    response = admin_client.post(
        reverse("admin:webhooks_webhookdelivery_retry", args=[delivery.pk]),
        {"next": "https://evil.example.com/"},
    )
    assert response["Location"] == reverse(
        "admin:webhooks_webhookdelivery_change", args=[delivery.pk]
    )


def test_retrying_needs_the_permission_and_a_post(product):
    license_ = LicenseFactory.create(product=product)
    delivery, _ = suspended_and_resumed(
        license_, WebhookEndpointFactory.create(brand=product.brand)
    )
    url = reverse("admin:webhooks_webhookdelivery_retry", args=[delivery.pk])
    reader = staff("view_webhookdelivery")
    assert reader.post(url).status_code == 403
    listing = reader.post(
        reverse("admin:webhooks_webhookdelivery_changelist"),
        {"action": "retry", "_selected_action": [delivery.pk]},
    )
    assert listing.status_code == 200  # no such action for this user: the list again
    assert reader.get(url).status_code == 405
    assert not AuditEvent.objects.filter(action="webhook.delivery_retried").exists()


def test_a_license_without_deliveries_says_so(admin_client, product):
    license_ = LicenseFactory.create(product=product)
    html = admin_client.get(page_of(license_)).content.decode()
    assert "No webhook deliveries of this license" in html


# --- signing keys ------------------------------------------------------------------------


def test_the_license_page_names_the_brand_keys_that_sign_its_tokens(admin_client, product):
    license_ = LicenseFactory.create(product=product)
    old = signing_key_current(brand_id=product.brand_id)
    html = admin_client.get(page_of(license_)).content.decode()
    assert f"<code>{old.kid}</code> (signs new tokens)" in html
    old.signed_until = timezone.now() + timedelta(days=1)
    old.save()
    new = signing_key_rotate(brand=product.brand, actor=Actor.staff("ann"))
    html = admin_client.get(page_of(license_)).content.decode()
    assert f"<code>{new.kid}</code> (signs new tokens)" in html
    assert f"<code>{old.kid}</code> (retired, its tokens valid until" in html
    assert reverse("admin:brands_brand_change", args=[product.brand_id]) in html


@pytest.mark.parametrize("group_name", ["support", "billing"])
def test_the_console_groups_read_a_licenses_deliveries_and_may_retry_them(product, group_name):
    # The groups as the migrations make them (run again here: a test that empties the
    # tables on PostgreSQL takes the migrations' rows with it).
    class Editor:
        connection = connection

    importlib.import_module("licensing.migrations.0004_staff_groups").create_groups(
        django_apps, Editor()
    )
    importlib.import_module("webhooks.migrations.0003_staff_groups_read_deliveries").grant(
        django_apps, Editor()
    )
    license_ = LicenseFactory.create(product=product)
    endpoint = WebhookEndpointFactory.create(brand=product.brand, url="https://hooks.example.com/")
    suspended_and_resumed(license_, endpoint)
    user = get_user_model().objects.create_user(username="agent", password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name=group_name))
    client = Client()
    client.force_login(user)
    html = client.get(page_of(license_)).content.decode()
    assert "https://hooks.example.com/" in html
    assert ">Retry</button>" in html
    assert not user.has_perm("webhooks.change_webhookendpoint")

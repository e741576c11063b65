"""Staff see audit events read-only in the admin (SPEC §8, §9): even a superuser can view
them, and nothing else."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.test import RequestFactory
from django.urls import reverse

from audit.models import AuditEvent
from tests.audit.conftest import snapshot

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:audit_auditevent_changelist")


def change_url(event: AuditEvent) -> str:
    return reverse("admin:audit_auditevent_change", args=[event.pk])


def delete_url(event: AuditEvent) -> str:
    return reverse("admin:audit_auditevent_delete", args=[event.pk])


def test_a_superuser_can_view_an_audit_event(admin_client, event):
    response = admin_client.get(change_url(event))
    assert response.status_code == 200
    assert b"license.suspended" in response.content
    assert b'name="_save"' not in response.content  # no save button: a read-only page


def test_a_superuser_gets_403_posting_the_change_form_of_an_audit_event(admin_client, event):
    before = snapshot()
    response = admin_client.post(
        change_url(event), {"action": "license.resumed", "actor": "forger", "_save": "Save"}
    )
    assert response.status_code == 403
    assert snapshot() == before


def test_a_superuser_gets_403_on_the_delete_view_of_an_audit_event(admin_client, event):
    before = snapshot()
    assert admin_client.get(delete_url(event)).status_code == 403
    assert admin_client.post(delete_url(event), {"post": "yes"}).status_code == 403
    assert snapshot() == before


def test_a_superuser_gets_403_on_the_add_view_of_audit_events(admin_client, event):
    before = snapshot()
    add = reverse("admin:audit_auditevent_add")
    assert admin_client.get(add).status_code == 403
    assert admin_client.post(add, {"action": "forged", "actor": "forger"}).status_code == 403
    assert snapshot() == before


def test_the_audit_list_offers_no_delete_action(admin_client, staff_user, event):
    response = admin_client.get(CHANGELIST)
    assert response.status_code == 200
    assert response.context["action_form"] is None
    assert b"delete_selected" not in response.content
    request = RequestFactory().get(CHANGELIST)
    request.user = staff_user
    assert admin.site.get_model_admin(AuditEvent).get_actions(request) == {}


def test_posting_the_bulk_delete_action_to_the_audit_list_deletes_nothing(admin_client, event):
    before = snapshot()
    response = admin_client.post(
        CHANGELIST,
        {
            "action": "delete_selected",
            "_selected_action": [str(pk) for pk, *_ in before],
            "post": "yes",
        },
    )
    assert response.status_code in (200, 302)
    assert snapshot() == before


def test_the_audit_admin_grants_view_and_nothing_else(staff_user, event):
    model_admin = admin.site.get_model_admin(AuditEvent)
    request = RequestFactory().get(CHANGELIST)
    request.user = staff_user
    assert model_admin.has_view_permission(request, event)
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request, event)
    assert not model_admin.has_delete_permission(request, event)

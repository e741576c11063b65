"""Brand API routes of the outbox, mounted at /api/v1/brand/ (optional trailing slash)."""

from __future__ import annotations

from django.urls import re_path

from events import apis

urlpatterns = [
    re_path(r"^events/?$", apis.EventFeedApi.as_view(), name="brand-events"),
]

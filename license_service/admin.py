"""Admin pieces shared by the apps."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.safestring import SafeString

# The staff console's name on every admin page; "View site" opens the API's documentation
# (``/`` would only send staff back here).
admin.site.site_header = "License Service · staff console"
admin.site.site_title = "License Service"
admin.site.index_title = "Licenses, customers and brands"
admin.site.site_url = "/api/docs/"
# The app menu beside every page costs a list its last columns at 1366 px (SPEC §15); the
# breadcrumbs and the index page lead everywhere it did.
admin.site.enable_nav_sidebar = False


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows staff read but never add, change or delete from the admin (their writes go
    through the services: lifecycle actions, the APIs)."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnlyInline(admin.TabularInline):
    """Rows listed with their parent, changed only from their own page (whose actions call
    the services)."""

    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# --- panels: a higher room's table on a lower room's page ----------------------------------


@dataclass(frozen=True, slots=True)
class PagePanel:
    """A read-only section an app adds to another app's admin page, by the page's model
    label (``"licensing.license"``): the app that owns the data renders it, the page only
    shows it. So a room may show what a room beside or above it knows without importing
    it (webhooks' deliveries on a license's page: webhooks imports no licensing, licensing
    no webhooks). ``render(request, obj)`` returns the section's HTML; it may check the
    user's permissions on the request."""

    title: str
    render: Callable[[HttpRequest, Any], SafeString]


_PAGE_PANELS: dict[str, list[PagePanel]] = {}


def page_panel_register(model_label: str, panel: PagePanel) -> None:
    """Add ``panel`` to the change page of ``model_label`` (once; admin modules are
    imported once, by autodiscovery)."""
    panels = _PAGE_PANELS.setdefault(model_label.lower(), [])
    if panel not in panels:
        panels.append(panel)


def page_panels(model_label: str) -> list[PagePanel]:
    return list(_PAGE_PANELS.get(model_label.lower(), []))

"""Admin pieces shared by the apps."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

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

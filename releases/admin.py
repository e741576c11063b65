"""Admin for releases: listed per product; publish and yank are actions that call the
same services as the brand API (audit row included). Uploads go through the brand API."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from audit.services import Actor
from license_service.admin import ReadOnlyAdmin
from license_service.errors import DomainError
from releases.models import Release
from releases.services import release_publish, release_yank

SHA256_PREFIX_CHARS = 12


@admin.register(Release)
class ReleaseAdmin(ReadOnlyAdmin):
    list_display = [
        "product",
        "version",
        "channel",
        "published_at",
        "yanked_at",
        "size",
        "sha256_prefix",
        "created_at",
    ]
    list_filter = [
        "channel",
        ("product__brand", admin.RelatedOnlyFieldListFilter),
        ("product", admin.RelatedOnlyFieldListFilter),
    ]
    list_select_related = ["product", "product__brand"]
    search_fields = ["version", "product__slug", "product__name", "product__brand__slug", "sha256"]
    fields = (
        "product",
        "version",
        "channel",
        "package",
        "sha256",
        "size",
        "requires",
        "requires_php",
        "tested",
        "changelog",
        "published_at",
        "yanked_at",
        "created_at",
        "updated_at",
    )
    readonly_fields = fields
    actions = ["publish", "yank"]

    @admin.display(description="sha256")
    def sha256_prefix(self, obj: Release) -> str:
        return obj.sha256[:SHA256_PREFIX_CHARS] + "…"

    def _apply(
        self,
        request: HttpRequest,
        queryset: QuerySet[Release],
        done: str,
        change: Callable[[Release], Release],
    ) -> None:
        changed = 0
        for release in queryset.select_related("product").order_by("pk"):
            try:
                change(release)
                changed += 1
            except DomainError as exc:
                self.message_user(request, f"Release {release.pk}: {exc.message}", messages.ERROR)
        if changed:
            self.message_user(request, f"{done} {changed} release(s).", messages.SUCCESS)

    @admin.action(description="Publish selected releases", permissions=["lifecycle"])
    def publish(self, request: HttpRequest, queryset: QuerySet[Release]) -> None:
        actor = Actor.staff(request.user.get_username())
        self._apply(
            request, queryset, "Published", lambda r: release_publish(release=r, actor=actor)
        )

    @admin.action(description="Yank selected releases (final)", permissions=["lifecycle"])
    def yank(self, request: HttpRequest, queryset: QuerySet[Release]) -> None:
        actor = Actor.staff(request.user.get_username())
        self._apply(request, queryset, "Yanked", lambda r: release_yank(release=r, actor=actor))

    def has_lifecycle_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("releases.change_release")

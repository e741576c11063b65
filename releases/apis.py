"""Brand API for releases (SPEC §11): upload, list, read, publish, yank, edit notes."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.files.uploadhandler import TemporaryFileUploadHandler
from django.http import HttpRequest
from drf_spectacular.utils import extend_schema
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from license_service.api.parsers import bad_string_reason
from license_service.api.schema import error_responses
from license_service.errors import ValidationFailed
from licensing.apis import AUTH_ERRORS, BrandApi
from releases import services
from releases.errors import PackageTooLarge
from releases.selectors import (
    product_get_for_brand,
    release_get_for_product,
    releases_list_for_product,
)
from releases.serializers import (
    ReleaseCreateInputSerializer,
    ReleaseListOutputSerializer,
    ReleaseOutputSerializer,
    ReleaseUpdateInputSerializer,
)

# What a multipart body may carry beyond the package: its form fields (bounded by
# DATA_UPLOAD_MAX_MEMORY_SIZE) and the part headers.
MULTIPART_OVERHEAD_BYTES = 128 * 1024


class PackageUploadHandler(TemporaryFileUploadHandler):
    """Django's temporary-file handler (every package goes to disk, never to memory,
    whatever FILE_UPLOAD_MAX_MEMORY_SIZE says) that stops reading a package past
    ``RELEASE_MAX_UPLOAD_BYTES``: an oversized upload fills no disk."""

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes | None:
        max_bytes: int = settings.RELEASE_MAX_UPLOAD_BYTES
        if start + len(raw_data) > max_bytes:
            self.file.close()
            raise PackageTooLarge(max_bytes)
        return super().receive_data_chunk(raw_data, start)


def _refuse_bad_strings(data: Any) -> None:
    """Form fields are refused for NUL bytes as JSON ones are (the JSON parser does it for
    those): PostgreSQL stores none."""
    problems = {
        name: [reason]
        for name, value in data.items()
        if isinstance(value, str) and (reason := bad_string_reason(value))
    }
    if problems:
        raise ValidationFailed("Invalid input.", details=problems)


class ReleaseCollectionApi(BrandApi):
    parser_classes = [MultiPartParser]

    def initialize_request(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Request:
        request.upload_handlers = [PackageUploadHandler(request)]
        return super().initialize_request(request, *args, **kwargs)

    @extend_schema(
        tags=["brand"],
        operation_id="brand_releases_create",
        summary="Upload a release (a draft until published)",
        request={"multipart/form-data": ReleaseCreateInputSerializer},
        description="The version works as an idempotency key: the same version with the same "
        "package again answers 200 with the existing release (`Idempotent-Replayed: true`); "
        "with another package, 409 `idempotency_conflict`.",
        responses={
            201: ReleaseOutputSerializer,
            200: ReleaseOutputSerializer,
            **error_responses(
                "validation_error",
                *AUTH_ERRORS,
                "not_found",
                "idempotency_conflict",
                "payload_too_large",
            ),
        },
    )
    def post(self, request: Request, slug: str) -> Response:
        product = product_get_for_brand(self.principal.brand, slug)
        max_bytes: int = settings.RELEASE_MAX_UPLOAD_BYTES
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        if declared > max_bytes + MULTIPART_OVERHEAD_BYTES:
            raise PackageTooLarge(max_bytes)
        _refuse_bad_strings(request.data)
        serializer = ReleaseCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        release, created = services.release_create(
            product=product,
            actor=self.actor(),
            version=data["version"],
            package=data["package"],
            channel=data["channel"],
            changelog=data.get("changelog", ""),
            requires=data.get("requires", ""),
            requires_php=data.get("requires_php", ""),
            tested=data.get("tested", ""),
        )
        if created:
            return Response(ReleaseOutputSerializer(release).data, status=201)
        # A retried upload (same version, same package): the release it made.
        response = Response(ReleaseOutputSerializer(release).data, status=200)
        response["Idempotent-Replayed"] = "true"
        return response

    @extend_schema(
        tags=["brand"],
        operation_id="brand_releases_list",
        summary="A product's releases, newest version first (PHP's version_compare)",
        responses={200: ReleaseListOutputSerializer, **error_responses(*AUTH_ERRORS, "not_found")},
    )
    def get(self, request: Request, slug: str) -> Response:
        product = product_get_for_brand(self.principal.brand, slug)
        releases = releases_list_for_product(product)
        return Response(ReleaseListOutputSerializer({"results": releases}).data)


class ReleaseDetailApi(BrandApi):
    @extend_schema(
        tags=["brand"],
        operation_id="brand_release_retrieve",
        summary="One release",
        responses={200: ReleaseOutputSerializer, **error_responses(*AUTH_ERRORS, "not_found")},
    )
    def get(self, request: Request, slug: str, release_id: str) -> Response:
        product = product_get_for_brand(self.principal.brand, slug)
        release = release_get_for_product(product, int(release_id))
        return Response(ReleaseOutputSerializer(release).data)

    @extend_schema(
        tags=["brand"],
        operation_id="brand_release_update",
        summary="Publish, yank, or edit the notes of a release",
        request=ReleaseUpdateInputSerializer,
        responses={
            200: ReleaseOutputSerializer,
            **error_responses("validation_error", *AUTH_ERRORS, "not_found", "invalid_transition"),
        },
    )
    def patch(self, request: Request, slug: str, release_id: str) -> Response:
        product = product_get_for_brand(self.principal.brand, slug)
        release = release_get_for_product(product, int(release_id))
        serializer = ReleaseUpdateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        published = data.pop("published", None)
        yanked = data.pop("yanked", None)
        release = services.release_edit(
            release=release, actor=self.actor(), published=published, yanked=yanked, notes=data
        )
        return Response(ReleaseOutputSerializer(release_get_for_product(product, release.pk)).data)

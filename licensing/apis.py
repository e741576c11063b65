"""Brand API (SPEC §5): provisioning, lifecycle, reads, US6 by-email."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, PolymorphicProxySerializer, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.selectors import audit_events_for_license
from audit.services import Actor
from brands.authentication import BRAND_AUTHENTICATION, BrandPrincipal
from brands.models import SCOPE_ECOSYSTEM_READ
from brands.permissions import IsBrand
from license_service.api.pagination import DefaultCursorPagination, paginated_response
from license_service.api.schema import error_responses
from license_service.errors import NotFound, ValidationFailed
from licensing import services
from licensing.models import normalize_email
from licensing.selectors import (
    license_exists_for_brand,
    license_get_for_brand,
    licenses_by_email,
    licenses_list_for_brand,
)
from licensing.serializers import (
    LIFECYCLE_ACTION_SERIALIZERS,
    AuditEventOutputSerializer,
    ByEmailOutputSerializer,
    LicenseDetailOutputSerializer,
    LicenseListFilterSerializer,
    LicenseOutputSerializer,
    LifecycleInputSerializer,
    ProvisionInputSerializer,
    ProvisionOutputSerializer,
)

MAX_IDEMPOTENCY_KEY_LENGTH = 255
AUTH_ERRORS = ("not_authenticated", "permission_denied")


class BrandApi(APIView):
    authentication_classes = BRAND_AUTHENTICATION
    permission_classes = [IsBrand]

    @property
    def principal(self) -> BrandPrincipal:
        principal = self.request.user
        assert isinstance(principal, BrandPrincipal)  # noqa: S101 (IsBrand guarantees it)
        return principal

    def actor(self) -> Actor:
        return Actor.brand(self.principal.brand.slug)


def _request_hash(data: Any) -> str:
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


class _EventPagination(DefaultCursorPagination):
    ordering = ("-created_at", "-id")


class LicenseCollectionApi(BrandApi):
    pagination_class = DefaultCursorPagination

    @extend_schema(
        tags=["brand"],
        summary="Provision a license (US1)",
        request=ProvisionInputSerializer,
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                {"type": "string", "minLength": 1, "maxLength": MAX_IDEMPOTENCY_KEY_LENGTH},
                OpenApiParameter.HEADER,
                description="Retries with the same key and body within 24 h replay the "
                "first response.",
            )
        ],
        responses={
            201: ProvisionOutputSerializer,
            **error_responses(
                "validation_error",
                *AUTH_ERRORS,
                "not_found",
                "license_not_found",
                "already_entitled",
                "key_conflict",
                "idempotency_conflict",
            ),
        },
    )
    def post(self, request: Request) -> Response:
        brand = self.principal.brand
        serializer = ProvisionInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data

        def perform() -> tuple[int, dict[str, Any]]:
            license_ = services.license_provision(
                brand=brand,
                actor=self.actor(),
                customer_email=data["customer_email"],
                product_slug=data["product_slug"],
                expires_at=data.get("expires_at"),
                max_seats=data.get("max_seats", services.UNSET),
                license_key=data.get("license_key"),
                new_key=data["new_key"],
            )
            return 201, dict(ProvisionOutputSerializer(license_).data)

        idempotency_key = request.META.get("HTTP_IDEMPOTENCY_KEY")
        if idempotency_key is None:
            status, body = perform()
            return Response(body, status=status)
        if not 1 <= len(idempotency_key) <= MAX_IDEMPOTENCY_KEY_LENGTH:
            raise ValidationFailed(
                details={"Idempotency-Key": [f"Must be 1 to {MAX_IDEMPOTENCY_KEY_LENGTH} chars."]}
            )
        status, body, replayed = services.idempotent_call(
            brand=brand,
            idempotency_key=idempotency_key,
            request_hash=_request_hash(request.data),
            perform=perform,
        )
        response = Response(body, status=status)
        if replayed:
            response["Idempotent-Replayed"] = "true"
        return response

    @extend_schema(
        tags=["brand"],
        summary="List this brand's licenses",
        parameters=[LicenseListFilterSerializer],
        responses={
            200: LicenseOutputSerializer(many=True),
            **error_responses("validation_error", *AUTH_ERRORS),
        },
    )
    def get(self, request: Request) -> Response:
        # A plain dict: DRF reads a QueryDict's "?status=" as absent, so a blank "status"
        # would skip its validation; the serializer turns every blank filter into no filter.
        filters = LicenseListFilterSerializer(data=request.query_params.dict())
        filters.is_valid(raise_exception=True)
        queryset = licenses_list_for_brand(
            self.principal.brand,
            customer_email=filters.validated_data.get("customer_email"),
            product_slug=filters.validated_data.get("product"),
            status=filters.validated_data.get("status"),
        )
        return paginated_response(
            queryset=queryset, serializer_class=LicenseOutputSerializer, request=request, view=self
        )


class LicenseDetailApi(BrandApi):
    @extend_schema(
        tags=["brand"],
        summary="One license with its seats and activations",
        responses={
            200: LicenseDetailOutputSerializer,
            **error_responses(*AUTH_ERRORS, "not_found"),
        },
    )
    def get(self, request: Request, license_id: int) -> Response:
        license_ = license_get_for_brand(self.principal.brand, int(license_id))
        return Response(LicenseDetailOutputSerializer(license_).data)

    @extend_schema(
        tags=["brand"],
        summary="Change the lifecycle (US2): renew, suspend, resume, cancel, set_seats",
        request=PolymorphicProxySerializer(
            component_name="LifecycleAction",
            serializers=LIFECYCLE_ACTION_SERIALIZERS,
            resource_type_field_name="action",
        ),
        responses={
            200: LicenseDetailOutputSerializer,
            **error_responses("validation_error", *AUTH_ERRORS, "not_found", "invalid_transition"),
        },
    )
    def patch(self, request: Request, license_id: int) -> Response:
        brand = self.principal.brand
        license_ = license_get_for_brand(brand, int(license_id))
        serializer = LifecycleInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        action = data["action"]
        actor = self.actor()
        if action == "renew":
            services.license_renew(license_=license_, expires_at=data["expires_at"], actor=actor)
        elif action == "suspend":
            services.license_suspend(license_=license_, actor=actor)
        elif action == "resume":
            services.license_resume(license_=license_, actor=actor)
        elif action == "cancel":
            services.license_cancel(license_=license_, actor=actor)
        else:
            services.license_set_seats(license_=license_, max_seats=data["max_seats"], actor=actor)
        fresh = license_get_for_brand(brand, license_.pk)
        return Response(LicenseDetailOutputSerializer(fresh).data)


class LicenseEventsApi(BrandApi):
    pagination_class = _EventPagination

    @extend_schema(
        tags=["brand"],
        summary="Audit events of a license, newest first",
        responses={
            200: AuditEventOutputSerializer(many=True),
            **error_responses(*AUTH_ERRORS, "not_found"),
        },
    )
    def get(self, request: Request, license_id: int) -> Response:
        if not license_exists_for_brand(self.principal.brand, int(license_id)):
            raise NotFound("License not found.")
        return paginated_response(
            queryset=audit_events_for_license(license_id=int(license_id)),
            serializer_class=AuditEventOutputSerializer,
            request=request,
            view=self,
        )


class LicensesByEmailApi(BrandApi):
    @extend_schema(
        tags=["brand"],
        summary="A customer's licenses by e-mail (US6)",
        description="Only this brand's keys, or every brand's with the `ecosystem:read` scope; "
        "another brand's `license_key` is masked to its prefix and last group "
        "(`RNKM-…-E8RJP`).",
        parameters=[OpenApiParameter("email", OpenApiTypes.EMAIL, OpenApiParameter.PATH)],
        responses={
            200: ByEmailOutputSerializer,
            **error_responses("validation_error", *AUTH_ERRORS),
        },
    )
    def get(self, request: Request, email: str) -> Response:
        email = normalize_email(email)
        try:
            validate_email(email)
        except DjangoValidationError as exc:
            raise ValidationFailed(details={"email": ["Enter a valid email address."]}) from exc
        principal = self.principal
        keys = licenses_by_email(
            principal.brand, email, ecosystem=principal.has_scope(SCOPE_ECOSYSTEM_READ)
        )
        body = ByEmailOutputSerializer(
            {"customer_email": email, "licenses": keys}, context={"brand": principal.brand}
        ).data
        return Response(body)

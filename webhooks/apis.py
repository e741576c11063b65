"""Brand API: webhook endpoints, their delivery log, test sends and retries (SPEC §13)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.services import Actor
from brands.authentication import BRAND_AUTHENTICATION, BrandPrincipal
from brands.permissions import IsBrand
from license_service.api.pagination import DefaultCursorPagination, paginated_response
from license_service.api.schema import error_responses
from webhooks import services
from webhooks.selectors import (
    deliveries_for_endpoint,
    delivery_get_for_brand,
    endpoint_get_for_brand,
    endpoints_for_brand,
)
from webhooks.serializers import (
    DeliveryOutputSerializer,
    EndpointCreatedSerializer,
    EndpointCreateSerializer,
    EndpointOutputSerializer,
    EndpointUpdateSerializer,
)

AUTH_ERRORS = ("not_authenticated", "permission_denied")
TAGS = ["brand webhooks"]


class _BrandApi(APIView):
    authentication_classes = BRAND_AUTHENTICATION
    permission_classes = [IsBrand]

    @property
    def principal(self) -> BrandPrincipal:
        principal = self.request.user
        assert isinstance(principal, BrandPrincipal)  # noqa: S101 (IsBrand guarantees it)
        return principal

    def actor(self) -> Actor:
        return Actor.brand(self.principal.brand.slug)


class _EndpointPagination(DefaultCursorPagination):
    ordering = "id"


class WebhookCollectionApi(_BrandApi):
    pagination_class = _EndpointPagination

    @extend_schema(
        tags=TAGS,
        summary="Add a webhook endpoint",
        description="The answer carries the endpoint's signing `secret`, shown only here.",
        request=EndpointCreateSerializer,
        responses={
            201: EndpointCreatedSerializer,
            **error_responses("validation_error", *AUTH_ERRORS),
        },
    )
    def post(self, request: Request) -> Response:
        serializer = EndpointCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        endpoint = services.webhook_endpoint_create(
            brand=self.principal.brand,
            actor=self.actor(),
            url=data["url"],
            events=data["events"],
            description=data["description"],
        )
        return Response(EndpointCreatedSerializer(endpoint).data, status=201)

    @extend_schema(
        tags=TAGS,
        summary="This brand's webhook endpoints",
        responses={
            200: EndpointOutputSerializer(many=True),
            **error_responses("validation_error", *AUTH_ERRORS),
        },
    )
    def get(self, request: Request) -> Response:
        return paginated_response(
            queryset=endpoints_for_brand(self.principal.brand),
            serializer_class=EndpointOutputSerializer,
            request=request,
            view=self,
        )


class WebhookDetailApi(_BrandApi):
    @extend_schema(
        tags=TAGS,
        summary="One webhook endpoint",
        responses={200: EndpointOutputSerializer, **error_responses(*AUTH_ERRORS, "not_found")},
    )
    def get(self, request: Request, webhook_id: str) -> Response:
        endpoint = endpoint_get_for_brand(self.principal.brand, int(webhook_id))
        return Response(EndpointOutputSerializer(endpoint).data)

    @extend_schema(
        tags=TAGS,
        summary="Change a webhook endpoint (url, events, description, enabled)",
        request=EndpointUpdateSerializer,
        responses={
            200: EndpointOutputSerializer,
            **error_responses("validation_error", *AUTH_ERRORS, "not_found"),
        },
    )
    def patch(self, request: Request, webhook_id: str) -> Response:
        endpoint = endpoint_get_for_brand(self.principal.brand, int(webhook_id))
        serializer = EndpointUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        changes: dict[str, Any] = dict(serializer.validated_data)
        endpoint = services.webhook_endpoint_update(
            endpoint=endpoint, actor=self.actor(), **changes
        )
        return Response(EndpointOutputSerializer(endpoint).data)

    @extend_schema(
        tags=TAGS,
        summary="Delete a webhook endpoint and its delivery log",
        responses={204: None, **error_responses(*AUTH_ERRORS, "not_found")},
    )
    def delete(self, request: Request, webhook_id: str) -> Response:
        endpoint = endpoint_get_for_brand(self.principal.brand, int(webhook_id))
        services.webhook_endpoint_delete(endpoint=endpoint, actor=self.actor())
        return Response(status=204)


class WebhookTestApi(_BrandApi):
    @extend_schema(
        tags=TAGS,
        summary="Send a `webhook.test` event to this endpoint",
        description="One attempt, soon, by a worker; follow it in the delivery log.",
        request=None,
        responses={
            202: DeliveryOutputSerializer,
            **error_responses(*AUTH_ERRORS, "not_found"),
        },
    )
    def post(self, request: Request, webhook_id: str) -> Response:
        endpoint = endpoint_get_for_brand(self.principal.brand, int(webhook_id))
        delivery = services.webhook_endpoint_test(endpoint=endpoint, actor=self.actor())
        return Response(DeliveryOutputSerializer(delivery).data, status=202)


class _DeliveryPagination(DefaultCursorPagination):
    ordering = "-id"


class WebhookDeliveriesApi(_BrandApi):
    pagination_class = _DeliveryPagination

    @extend_schema(
        tags=TAGS,
        summary="The endpoint's delivery log, newest first",
        responses={
            200: DeliveryOutputSerializer(many=True),
            **error_responses("validation_error", *AUTH_ERRORS, "not_found"),
        },
    )
    def get(self, request: Request, webhook_id: str) -> Response:
        endpoint = endpoint_get_for_brand(self.principal.brand, int(webhook_id))
        return paginated_response(
            queryset=deliveries_for_endpoint(endpoint),
            serializer_class=DeliveryOutputSerializer,
            request=request,
            view=self,
        )


class WebhookDeliveryRetryApi(_BrandApi):
    @extend_schema(
        tags=TAGS,
        summary="Send a delivery again now (same `webhook-id`)",
        request=None,
        responses={
            202: DeliveryOutputSerializer,
            **error_responses(*AUTH_ERRORS, "not_found"),
        },
    )
    def post(self, request: Request, delivery_id: str) -> Response:
        delivery = delivery_get_for_brand(self.principal.brand, int(delivery_id))
        delivery = services.webhook_delivery_retry(delivery=delivery, actor=self.actor())
        return Response(DeliveryOutputSerializer(delivery).data, status=202)

"""Reads of webhooks: a brand sees only its own endpoints and deliveries (another brand's
is a 404, its existence not revealed)."""

from __future__ import annotations

from django.db.models import QuerySet

from brands.models import Brand
from license_service.errors import NotFound
from webhooks.models import WebhookDelivery, WebhookEndpoint


def endpoints_for_brand(brand: Brand) -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.filter(brand=brand).order_by("id")


def endpoint_get_for_brand(brand: Brand, endpoint_id: int) -> WebhookEndpoint:
    endpoint = WebhookEndpoint.objects.filter(brand=brand, pk=endpoint_id).first()
    if endpoint is None:
        raise NotFound("No webhook endpoint of this brand has this id.")
    return endpoint


def deliveries_for_endpoint(endpoint: WebhookEndpoint) -> QuerySet[WebhookDelivery]:
    return WebhookDelivery.objects.filter(endpoint=endpoint)


def delivery_get_for_brand(brand: Brand, delivery_id: int) -> WebhookDelivery:
    delivery = (
        WebhookDelivery.objects.select_related("endpoint")
        .filter(endpoint__brand=brand, pk=delivery_id)
        .first()
    )
    if delivery is None:
        raise NotFound("No webhook delivery of this brand has this id.")
    return delivery


def deliveries_for_license(license_id: int) -> QuerySet[WebhookDelivery]:
    """The deliveries of the events about one license (``Event.license_id``, any brand:
    the staff console's read), newest first, with their endpoint and event. Served by the
    events' license index, then the deliveries' event index."""
    return (
        WebhookDelivery.objects.filter(event__license_id=license_id)
        .select_related("endpoint", "event")
        .order_by("-id")
    )

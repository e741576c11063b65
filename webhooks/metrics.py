"""Webhook gauges read at scrape time (SPEC §13, issue 17): the pending deliveries (queue
depth) and the age of the oldest pending delivery and of the oldest event not yet turned
into deliveries. Three indexed queries per scrape."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from django.db.models import Min, Q
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from events.models import Event
from license_service.metrics import register_scrape_collector
from webhooks.models import WebhookDelivery, WebhookDispatchCursor

logger = logging.getLogger(__name__)


class WebhookQueueCollector(Collector):
    def describe(self) -> Iterator[GaugeMetricFamily]:
        """The names without values: registering must not query the database."""
        yield from self._families()

    def _families(self) -> tuple[GaugeMetricFamily, GaugeMetricFamily, GaugeMetricFamily]:
        depth = GaugeMetricFamily(
            "webhook_pending_deliveries",
            "Webhook deliveries not yet succeeded nor given up (queue depth).",
        )
        delivery_age = GaugeMetricFamily(
            "webhook_oldest_pending_delivery_age_seconds",
            "Age of the oldest pending webhook delivery (0: none).",
        )
        event_age = GaugeMetricFamily(
            "webhook_oldest_undispatched_event_age_seconds",
            "Age of the oldest event not yet turned into webhook deliveries (0: none).",
        )
        return depth, delivery_age, event_age

    def collect(self) -> Iterator[GaugeMetricFamily]:
        depth, delivery_age, event_age = self._families()
        try:
            now = timezone.now()
            pending = WebhookDelivery.objects.filter(status=WebhookDelivery.Status.PENDING)
            summary = pending.aggregate(oldest=Min("created_at"))
            depth.add_metric([], pending.count())
            oldest = summary["oldest"]
            delivery_age.add_metric([], (now - oldest).total_seconds() if oldest else 0.0)
            cursor = WebhookDispatchCursor.objects.filter(pk=1).values_list("position", flat=True)
            position = cursor.first() or 0
            first = Event.objects.filter(Q(position__gt=position) | Q(position=None)).aggregate(
                oldest=Min("created_at")
            )["oldest"]
            event_age.add_metric([], (now - first).total_seconds() if first else 0.0)
        except Exception:  # a gauge never breaks the scrape
            # A database that is down (/readyz says so), or one this process may not use:
            # the gauges are left out rather than made up, the rest of /metrics still answers.
            logger.warning("webhook gauges unavailable", exc_info=True)
            return
        yield depth
        yield delivery_age
        yield event_age


COLLECTOR = WebhookQueueCollector()


def register() -> None:
    register_scrape_collector(COLLECTOR)

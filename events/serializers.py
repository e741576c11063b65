"""Input and output shapes of the feed."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from events.models import EVENT_TYPES

MAX_EVENT_ID = 2**63 - 1
MAX_LIMIT = 500
DEFAULT_LIMIT = 100


class FeedQuerySerializer(serializers.Serializer[Any]):
    after = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_EVENT_ID,
        help_text="The id of the last event you processed; absent: from the first event.",
    )
    type = serializers.ChoiceField(
        required=False,
        allow_blank=True,
        choices=list(EVENT_TYPES),
        help_text="Only events of this type (blank: every type).",
    )
    limit = serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_LIMIT, default=DEFAULT_LIMIT
    )


class EventSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    type = serializers.ChoiceField(choices=list(EVENT_TYPES))
    created_at = serializers.DateTimeField()
    brand = serializers.CharField(help_text="The brand's slug.")
    data = serializers.DictField(  # type: ignore[assignment]  # the field named like Serializer.data
        child=serializers.JSONField(),
        help_text="`license` (as the brand API shows a license), `activation` for "
        "activation events, `release` for release events.",
    )


class FeedPageSerializer(serializers.Serializer[Any]):
    results = EventSerializer(many=True)
    next = serializers.URLField(
        allow_null=True,
        help_text="The next page when more events follow now; null otherwise (poll again "
        "later with `after` = the last event's id).",
    )

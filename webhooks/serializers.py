"""Input and output shapes of the webhooks API (SPEC §13)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from license_service.api.fields import StrictBooleanField, StrictCharField
from webhooks.models import DELIVERY_TYPES, MAX_URL_LENGTH, SUBSCRIBABLE_TYPES, WebhookDelivery

_EVENTS_HELP = "Event types to receive (SPEC §13); empty: every type."


class _EventTypeField(serializers.ChoiceField):
    """An event type, sent as a JSON string (DRF's ChoiceField matches ``str(value)``)."""

    def __init__(self, **kwargs: Any):
        super().__init__(choices=list(SUBSCRIBABLE_TYPES), **kwargs)

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, str):
            self.fail("invalid_choice", input=data)
        return super().to_internal_value(data)


class EndpointCreateSerializer(serializers.Serializer[Any]):
    url = StrictCharField(
        max_length=MAX_URL_LENGTH,
        help_text="https URL; its host must resolve to public addresses only.",
    )
    events = serializers.ListField(
        child=_EventTypeField(),
        required=False,
        default=list,
        max_length=len(SUBSCRIBABLE_TYPES),
        help_text=_EVENTS_HELP,
    )
    description = StrictCharField(max_length=500, required=False, allow_blank=True, default="")


class EndpointUpdateSerializer(serializers.Serializer[Any]):
    url = StrictCharField(max_length=MAX_URL_LENGTH, required=False)
    events = serializers.ListField(
        child=_EventTypeField(),
        required=False,
        max_length=len(SUBSCRIBABLE_TYPES),
        help_text=_EVENTS_HELP,
    )
    description = StrictCharField(max_length=500, required=False, allow_blank=True)
    enabled = StrictBooleanField(
        required=False, help_text="Enabling clears the failure record; pending deliveries resume."
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs:
            raise serializers.ValidationError("Nothing to update: send at least one field.")
        return attrs


class EndpointOutputSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    url = serializers.CharField()
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=list(SUBSCRIBABLE_TYPES)), help_text=_EVENTS_HELP
    )
    description = serializers.CharField(allow_blank=True)
    enabled = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    failing_since = serializers.DateTimeField(
        allow_null=True, help_text="First failure since the last success (null: healthy)."
    )
    disabled_at = serializers.DateTimeField(
        allow_null=True, help_text="When the service disabled it after 5 days of failures."
    )


class EndpointCreatedSerializer(EndpointOutputSerializer):
    secret = serializers.CharField(
        help_text="`whsec_…`: verify deliveries with it. Shown only in this answer."
    )


class DeliveryOutputSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    webhook_id = serializers.IntegerField(source="endpoint_id")
    event_id = serializers.IntegerField(allow_null=True, help_text="Null for a test send.")
    event_type = serializers.ChoiceField(choices=list(DELIVERY_TYPES))
    message_id = serializers.CharField(help_text="The `webhook-id` header of every attempt.")
    status = serializers.ChoiceField(choices=WebhookDelivery.Status.choices)
    attempts = serializers.IntegerField()
    next_attempt_at = serializers.DateTimeField(allow_null=True)
    last_attempt_at = serializers.DateTimeField(allow_null=True)
    last_status_code = serializers.IntegerField(allow_null=True)
    last_duration_ms = serializers.IntegerField(allow_null=True)
    last_error = serializers.CharField(allow_blank=True)
    created_at = serializers.DateTimeField()
    delivered_at = serializers.DateTimeField(allow_null=True)

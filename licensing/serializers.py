"""Input and output shapes of the brand API."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from brands.models import MAX_SEATS
from license_service.api.fields import (
    FutureAwareDateTimeField,
    StrictBooleanField,
    StrictCharField,
    StrictEmailField,
    StrictIntegerField,
)
from licensing.expiry import EXPIRY_HORIZON_YEARS
from licensing.keys import MAX_KEY_INPUT_LENGTH, key_masked
from licensing.models import LIFECYCLE_ACTIONS, MAX_EMAIL_LENGTH, License, LicenseKey
from licensing.selectors import seats_remaining

EXPIRES_AT_HELP = (
    f"In the future and at most {EXPIRY_HORIZON_YEARS} years from now, with a timezone offset."
)


class ProvisionInputSerializer(serializers.Serializer[Any]):
    customer_email = StrictEmailField()
    product_slug = StrictCharField(max_length=50)
    expires_at = FutureAwareDateTimeField(
        required=False, allow_null=True, help_text=EXPIRES_AT_HELP + " Null: lifetime."
    )
    max_seats = StrictIntegerField(
        required=False, allow_null=True, min_value=1, max_value=MAX_SEATS
    )
    license_key = StrictCharField(required=False, allow_null=True, max_length=MAX_KEY_INPUT_LENGTH)
    new_key = StrictBooleanField(required=False, default=False)


class LifecycleInputSerializer(serializers.Serializer[Any]):
    action = serializers.ChoiceField(choices=LIFECYCLE_ACTIONS)
    expires_at = FutureAwareDateTimeField(required=False, help_text=EXPIRES_AT_HELP)
    max_seats = StrictIntegerField(
        required=False, allow_null=True, min_value=1, max_value=MAX_SEATS
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        action = attrs["action"]
        if action == "renew" and "expires_at" not in attrs:
            raise serializers.ValidationError({"expires_at": ["Required to renew."]})
        if action == "set_seats" and "max_seats" not in attrs:
            raise serializers.ValidationError(
                {"max_seats": ["Required to set seats (null means unlimited)."]}
            )
        return attrs


# One input shape per lifecycle action, for the OpenAPI document only (a oneOf on
# ``action``); LifecycleInputSerializer validates all of them.
class _ActionField(serializers.ChoiceField):
    def __init__(self, action: str):
        super().__init__(choices=[action])


class RenewInputSerializer(serializers.Serializer[Any]):
    """A renewal's input: the brand API's ``renew`` action and the staff API's renew."""

    expires_at = FutureAwareDateTimeField(help_text=EXPIRES_AT_HELP)


class SeatsInputSerializer(serializers.Serializer[Any]):
    """A seat limit's input: the brand API's ``set_seats`` action and the staff API's."""

    max_seats = StrictIntegerField(
        allow_null=True,
        min_value=1,
        max_value=MAX_SEATS,
        help_text="Null: unlimited. Lowering it below the seats in use releases nothing: new "
        "activations wait until seats are freed.",
    )


class RenewActionSerializer(RenewInputSerializer):
    action = _ActionField("renew")


class SuspendActionSerializer(serializers.Serializer[Any]):
    action = _ActionField("suspend")


class ResumeActionSerializer(serializers.Serializer[Any]):
    action = _ActionField("resume")


class CancelActionSerializer(serializers.Serializer[Any]):
    action = _ActionField("cancel")


class SetSeatsActionSerializer(SeatsInputSerializer):
    action = _ActionField("set_seats")


LIFECYCLE_ACTION_SERIALIZERS: dict[
    str, serializers.Serializer[Any] | type[serializers.Serializer[Any]]
] = {
    "renew": RenewActionSerializer,
    "suspend": SuspendActionSerializer,
    "resume": ResumeActionSerializer,
    "cancel": CancelActionSerializer,
    "set_seats": SetSeatsActionSerializer,
}


class LicenseListFilterSerializer(serializers.Serializer[Any]):
    """The list's filters. A blank one (``?customer_email=&product=&status=``, as a form or
    a template fills them) means no filter: it validates to ``None``."""

    customer_email = StrictCharField(required=False, allow_blank=True, max_length=MAX_EMAIL_LENGTH)
    product = StrictCharField(required=False, allow_blank=True, max_length=50)
    status = serializers.ChoiceField(
        required=False,
        allow_blank=True,
        choices=["valid", "suspended", "cancelled", "expired"],
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        return {name: value or None for name, value in attrs.items()}


class ProvisionOutputSerializer(serializers.Serializer[License]):
    license_key = serializers.CharField(source="license_key.key")
    license_id = serializers.IntegerField(source="pk")
    customer_email = serializers.EmailField(source="license_key.customer_email")
    brand = serializers.CharField(source="license_key.brand.slug")
    product = serializers.CharField(source="product.slug")
    status = serializers.SerializerMethodField()
    expires_at = serializers.DateTimeField(allow_null=True)
    max_seats = serializers.IntegerField(allow_null=True)
    created_at = serializers.DateTimeField()

    def get_status(self, obj: License) -> str:
        return obj.effective_status()


class LicenseActivationSerializer(serializers.Serializer[Any]):
    """An activation that holds a place (a reclaimed one is not listed)."""

    id = serializers.IntegerField()
    instance_identifier = serializers.CharField()
    environment = serializers.ChoiceField(
        choices=["production", "staging", "local"],
        help_text="Decided from the instance identifier; only production ones are seats.",
    )
    status = serializers.SerializerMethodField(
        help_text="dead: not seen for longer than the product's heartbeat_seconds; it holds "
        "no seat and its place may be given to another instance."
    )
    activated_at = serializers.DateTimeField()
    last_seen_at = serializers.DateTimeField()

    @extend_schema_field(serializers.ChoiceField(choices=["active", "dead"]))
    def get_status(self, obj: Any) -> str:
        # The license and its product come with the prefetch (no query per activation).
        return str(obj.state(obj.license.product.heartbeat_seconds))


SEATS_USED_HELP = "Production activations in use (not dead, not reclaimed)."
NON_PRODUCTION_HELP = "Staging and local activations in use (they take no seat)."


class LicenseOutputSerializer(ProvisionOutputSerializer):
    seats_used = serializers.IntegerField(help_text=SEATS_USED_HELP)
    non_production_in_use = serializers.IntegerField(help_text=NON_PRODUCTION_HELP)
    seats_remaining = serializers.SerializerMethodField()
    updated_at = serializers.DateTimeField()

    def get_seats_remaining(self, obj: License) -> int | None:
        seats_used = obj.seats_used  # type: ignore[attr-defined]  # the queryset's annotation
        return seats_remaining(seats_used=seats_used, max_seats=obj.max_seats)


class LicenseDetailOutputSerializer(LicenseOutputSerializer):
    activations = LicenseActivationSerializer(many=True)


class AuditEventOutputSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    action = serializers.CharField()
    actor_type = serializers.CharField()
    actor = serializers.CharField()
    request_id = serializers.CharField()
    client_ip = serializers.IPAddressField(allow_null=True)
    before = serializers.JSONField(allow_null=True)
    after = serializers.JSONField(allow_null=True)
    created_at = serializers.DateTimeField()


class ByEmailProductSerializer(serializers.Serializer[License]):
    product_slug = serializers.CharField(source="product.slug")
    license_id = serializers.IntegerField(source="pk")
    status = serializers.SerializerMethodField()
    expires_at = serializers.DateTimeField(allow_null=True)
    seats_used = serializers.IntegerField(help_text=SEATS_USED_HELP)
    max_seats = serializers.IntegerField(allow_null=True)

    def get_status(self, obj: License) -> str:
        return obj.effective_status()


class ByEmailKeySerializer(serializers.Serializer[LicenseKey]):
    """A key of the customer. Another brand's key is masked (``context["brand"]`` is the
    caller): a key is the product API's credential, and a read scope must not hand it out."""

    brand = serializers.CharField(source="brand.slug")
    license_key = serializers.SerializerMethodField(
        help_text="In full for the caller's own brand; another brand's key shows its prefix "
        "and last group only, e.g. `RNKM-…-E8RJP`."
    )
    products = ByEmailProductSerializer(source="licenses.all", many=True)

    @extend_schema_field(OpenApiTypes.STR)
    def get_license_key(self, obj: LicenseKey) -> str:
        if obj.brand_id == self.context["brand"].pk:
            return obj.key
        return key_masked(obj.key)


class ByEmailOutputSerializer(serializers.Serializer[Any]):
    customer_email = serializers.EmailField()
    licenses = ByEmailKeySerializer(many=True)


# --- the staff API (SPEC §4): licenses of every brand ---------------------------------------


class StaffLicenseFilterSerializer(serializers.Serializer[Any]):
    """The staff search's filters; a blank one means no filter (as the brand API's list)."""

    email = StrictCharField(required=False, allow_blank=True, max_length=MAX_EMAIL_LENGTH)
    key = StrictCharField(
        required=False,
        allow_blank=True,
        max_length=MAX_KEY_INPUT_LENGTH,
        help_text="A license key typed loosely (lower case, without dashes, O for 0); a value "
        "that cannot be a key matches nothing.",
    )
    brand = StrictCharField(required=False, allow_blank=True, max_length=50)
    product = StrictCharField(required=False, allow_blank=True, max_length=50)
    status = serializers.ChoiceField(
        required=False,
        allow_blank=True,
        choices=["valid", "suspended", "cancelled", "expired"],
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        return {name: value or None for name, value in attrs.items()}


class StaffLicenseOutputSerializer(LicenseOutputSerializer):
    """The brand API's license body, with its key's id (``PATCH /license-keys/{id}/``)."""

    license_key_id = serializers.IntegerField()


class StaffLicenseDetailOutputSerializer(StaffLicenseOutputSerializer):
    activations = LicenseActivationSerializer(many=True)


class StaffLicenseKeyInputSerializer(serializers.Serializer[Any]):
    customer_email = StrictEmailField(max_length=MAX_EMAIL_LENGTH)


class StaffLicenseKeyOutputSerializer(serializers.Serializer[LicenseKey]):
    id = serializers.IntegerField()
    license_key = serializers.CharField(source="key")
    customer_email = serializers.EmailField()
    brand = serializers.CharField(source="brand.slug")
    created_at = serializers.DateTimeField()

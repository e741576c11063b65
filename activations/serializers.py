"""Input and output shapes of the product API.

The check path is hot, so its input is cleaned by plain functions (``check_params``) that
apply the same rules as these serializers; the serializers document it in the schema, and
tests/activations/test_check_contract.py proves the two accept and refuse the same inputs
(a property test) and that served answers have the documented shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rest_framework import serializers

from activations.normalize import (
    MAX_INSTANCE_IDENTIFIER_INPUT_LENGTH,
    clean_instance_identifier,
)
from license_service.api.fields import StrictCharField, visible_text
from license_service.api.parsers import bad_string_reason
from license_service.errors import ValidationFailed
from licensing.keys import MAX_KEY_INPUT_LENGTH

MAX_SLUG_LENGTH = 50
# In a GET query an identifier is kept to what it may be once normalized: a URL's request
# line must stay within the server's limit (gunicorn.conf.py: 8190 bytes) even with every
# character percent-encoded, or the server answers 414 before the application sees it.
# Longer raw identifiers (URLs with long queries) go in the body of POST /check.
MAX_QUERY_INSTANCE_IDENTIFIER_LENGTH = 255

LICENSE_KEY_HELP = "The license key, case-insensitive; surrounding whitespace is ignored."
INSTANCE_HELP = (
    "Site URL or machine id. URLs and host names are parsed by the WHATWG URL rules and "
    "normalized (host in its IDNA ASCII form; scheme, user info, www., trailing dot, default "
    "port, trailing slash, query and fragment dropped; path kept); a URL without a valid "
    "host is refused; anything else is only trimmed. 1-255 characters once normalized."
)


CHECK_INSTANCE_HELP = (
    "Adds instance_active to each entitlement; counts as a heartbeat. " + INSTANCE_HELP
)


class InstanceIdentifierField(StrictCharField):
    def __init__(self, **kwargs: Any):
        kwargs.setdefault("max_length", MAX_INSTANCE_IDENTIFIER_INPUT_LENGTH)
        kwargs.setdefault("help_text", INSTANCE_HELP)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> str:
        value = super().to_internal_value(data)
        if self.max_length is not None and len(value) > self.max_length:
            self.fail("max_length", max_length=self.max_length)
        try:
            return clean_instance_identifier(value)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from exc


class ActivationInputSerializer(serializers.Serializer[Any]):
    """Body of deactivate and heartbeat (and the base of activate's)."""

    license_key = StrictCharField(max_length=MAX_KEY_INPUT_LENGTH, help_text=LICENSE_KEY_HELP)
    product_slug = StrictCharField(max_length=MAX_SLUG_LENGTH)
    instance_identifier = InstanceIdentifierField()


ENVIRONMENT_CLAIMS = ("production", "staging", "development", "local")
ENVIRONMENTS = ("production", "staging", "local")


class StrictChoiceField(serializers.ChoiceField):
    """One of the choices, sent as a JSON string (DRF's ChoiceField matches ``str(value)``,
    so it would take ``1`` for ``"1"``)."""

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, str):
            self.fail("invalid_choice", input=data)
        return super().to_internal_value(data)


class ActivateInputSerializer(ActivationInputSerializer):
    environment = StrictChoiceField(
        choices=ENVIRONMENT_CLAIMS,
        required=False,
        help_text="What the client believes it is. Recorded only: the environment is decided "
        "from the instance identifier, so a claim never makes a production host free.",
    )
    replace_instance_identifier = InstanceIdentifierField(
        required=False,
        help_text="Move the place of this instance (active on the license) to "
        "instance_identifier in one step: a domain change, a staging site promoted. "
        "Normalized like instance_identifier.",
    )


class CheckQuerySerializer(serializers.Serializer[Any]):
    """Query of ``GET /check/{key}``."""

    product_slug = StrictCharField(
        max_length=MAX_SLUG_LENGTH, required=False, help_text="Report only this entitlement."
    )
    instance_identifier = InstanceIdentifierField(
        required=False,
        max_length=MAX_QUERY_INSTANCE_IDENTIFIER_LENGTH,
        help_text=CHECK_INSTANCE_HELP,
    )


class CheckInputSerializer(CheckQuerySerializer):
    """Body of ``POST /check``: the query of ``GET /check/{key}`` and the key."""

    license_key = StrictCharField(max_length=MAX_KEY_INPUT_LENGTH, help_text=LICENSE_KEY_HELP)
    instance_identifier = InstanceIdentifierField(required=False, help_text=CHECK_INSTANCE_HELP)


def _text(
    data: Mapping[str, Any], field: str, max_length: int, errors: dict[str, list[str]]
) -> str | None:
    """``StrictCharField``'s rule, without DRF (the check path is hot)."""
    value = data.get(field)
    if value is None:
        return None
    if not isinstance(value, str):
        errors[field] = ["Must be a string."]
        return None
    reason = bad_string_reason(value)
    try:
        if reason:
            raise ValueError(reason)
        return visible_text(value, max_length=max_length)
    except ValueError as exc:
        errors[field] = [str(exc)]
        return None


def check_params(
    data: Mapping[str, Any], *, with_key: bool
) -> tuple[str | None, str | None, str | None]:
    """``(license_key, product_slug, instance_identifier)`` of a check request (the key only
    when ``with_key``), cleaned like ``CheckInputSerializer`` (the body of POST /check) or,
    without the key, ``CheckQuerySerializer`` (the query of GET). Raises ValidationFailed."""
    errors: dict[str, list[str]] = {}
    key = None
    if with_key:
        key = _text(data, "license_key", MAX_KEY_INPUT_LENGTH, errors)
        if key is None and "license_key" not in errors:
            errors["license_key"] = ["This field is required."]
    product_slug = _text(data, "product_slug", MAX_SLUG_LENGTH, errors)
    instance_limit = (
        MAX_INSTANCE_IDENTIFIER_INPUT_LENGTH if with_key else MAX_QUERY_INSTANCE_IDENTIFIER_LENGTH
    )
    instance = _text(data, "instance_identifier", instance_limit, errors)
    if instance is not None:
        try:
            instance = clean_instance_identifier(instance)
        except ValueError as exc:
            errors["instance_identifier"] = [str(exc)]
    if errors:
        raise ValidationFailed("Invalid input.", details=errors)
    return key, product_slug, instance


SIGNED_LICENSE_HELP = (
    "A signed license token (SPEC §12): a compact JWS (alg EdDSA, typ license+jwt, kid) "
    "to verify offline against the brand's JWKS (/api/v1/product/jwks/{brand}) with any "
    "JOSE library. Claims: iss, sub (license id), brand, product, key_prefix, instance, "
    "status, expires_at, max_seats, iat, nbf, exp."
)


class CheckEntitlementSerializer(serializers.Serializer[Any]):
    product_slug = serializers.CharField()
    license_id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=["valid", "suspended", "cancelled", "expired"])
    expires_at = serializers.DateTimeField(allow_null=True)
    seats_used = serializers.IntegerField(
        help_text="Seats in use: live production activations (a dead one, not seen for "
        "longer than the product's heartbeat_seconds, no longer counts)."
    )
    max_seats = serializers.IntegerField(allow_null=True, help_text="null = unlimited.")
    seats_remaining = serializers.IntegerField(allow_null=True, help_text="null = unlimited.")
    non_production_in_use = serializers.IntegerField(
        help_text="Live staging and local activations (they take no seat)."
    )
    instance_active = serializers.BooleanField(
        required=False,
        help_text=(
            "Only when instance_identifier was given: whether the instance holds its "
            "activation (the check is its heartbeat: a dead activation is live again)."
        ),
    )
    reason = serializers.ChoiceField(
        choices=["reclaimed"],
        required=False,
        help_text=(
            "Only with instance_active false: the instance's activation was reclaimed "
            "(dead, its seat given to another) and no seat is free to take back."
        ),
    )
    license_token = serializers.CharField(
        required=False,
        allow_null=True,
        help_text=SIGNED_LICENSE_HELP + " Only when instance_identifier was given; null when "
        "the instance holds no place on this license, the license has expired, or the "
        "token could not be made.",
    )


class CheckOutputSerializer(serializers.Serializer[Any]):
    success = serializers.BooleanField(default=True)
    license_key = serializers.CharField()
    brand = serializers.CharField(help_text="Brand slug.")
    customer_email_masked = serializers.CharField(help_text='e.g. "u***@example.com".')
    entitlements = CheckEntitlementSerializer(many=True)
    license_token = serializers.CharField(
        required=False,
        allow_null=True,
        help_text="Only when instance_identifier was given: the license_token of the only "
        "entitlement; null when the answer lists several (read each entitlement's, or pass "
        "product_slug).",
    )


NON_PRODUCTION_HELP = "Staging and local activations in use (they take no seat)."
SEATS_USED_HELP = "Production activations in use (live: not dead, not reclaimed)."


class ActivateOutputSerializer(serializers.Serializer[Any]):
    success = serializers.BooleanField(default=True)
    license_id = serializers.IntegerField()
    activation_id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=["valid"])
    expires_at = serializers.DateTimeField(allow_null=True)
    environment = serializers.ChoiceField(
        choices=ENVIRONMENTS, help_text="Decided from the instance identifier."
    )
    seats_used = serializers.IntegerField(help_text=SEATS_USED_HELP)
    max_seats = serializers.IntegerField(allow_null=True, help_text="null = unlimited.")
    seats_remaining = serializers.IntegerField(allow_null=True, help_text="null = unlimited.")
    non_production_in_use = serializers.IntegerField(help_text=NON_PRODUCTION_HELP)
    license_token = serializers.CharField(
        allow_null=True,
        help_text=SIGNED_LICENSE_HELP + " null when the license has expired or the token "
        "could not be made.",
    )


class HeartbeatOutputSerializer(serializers.Serializer[Any]):
    success = serializers.BooleanField(default=True)
    license_id = serializers.IntegerField()
    activation_id = serializers.IntegerField()
    instance_active = serializers.BooleanField()
    reason = serializers.ChoiceField(
        choices=["reclaimed"],
        required=False,
        help_text="Only when instance_active is false: the place was given to another "
        "instance while this one was silent, and none is free now.",
    )
    environment = serializers.ChoiceField(choices=ENVIRONMENTS)
    status = serializers.ChoiceField(choices=["active", "reclaimed"])
    heartbeat_seconds = serializers.IntegerField(
        allow_null=True,
        help_text="Silent longer than this, an activation is dead and its place may be given "
        "away; heartbeat at least every heartbeat_seconds / 2. null = never dead.",
    )
    last_seen_at = serializers.DateTimeField()


class DeactivateOutputSerializer(serializers.Serializer[Any]):
    success = serializers.BooleanField(default=True)
    message = serializers.CharField()
    seats_used = serializers.IntegerField(help_text=SEATS_USED_HELP)
    max_seats = serializers.IntegerField(allow_null=True, help_text="null = unlimited.")
    seats_remaining = serializers.IntegerField(allow_null=True, help_text="null = unlimited.")
    non_production_in_use = serializers.IntegerField(help_text=NON_PRODUCTION_HELP)

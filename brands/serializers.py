"""Input and output shapes of the staff API and the token endpoints.

Input fields are the strict ones (``license_service.api.fields``): a number where a string
is expected is a ``validation_error``, never coerced. Length limits are the model's.
Unknown fields are ignored, as DRF does; a field that exists but cannot be changed (a
brand's slug or key prefix, a product's brand or slug) is refused by name, so a client that
tries to change it learns that it did not happen.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import CharField, Model
from drf_spectacular.extensions import OpenApiSerializerExtension
from rest_framework import exceptions, serializers
from rest_framework_simplejwt.serializers import (
    TokenBlacklistSerializer,
    TokenObtainPairSerializer,
    TokenRefreshSerializer,
)

from brands import lockout
from brands.authentication import StaffRefreshToken
from brands.limits import (
    DEFAULT_TOKEN_LIFETIME_SECONDS,
    EDD_ITEM_ID_MAX,
    HEARTBEAT_MAX_SECONDS,
    NON_PRODUCTION_LIMIT_MAX,
    TOKEN_LIFETIME_MAX_SECONDS,
    TOKEN_LIFETIME_MIN_SECONDS,
    heartbeat_min_seconds,
)
from brands.models import (
    ALL_SCOPES,
    MAX_API_KEY_LENGTH,
    MAX_EXPIRING_SOON_DAYS,
    MAX_SEATS,
    Brand,
    BrandApiKey,
    Product,
    key_prefix_validator,
    slug_validator,
)
from brands.patterns import (
    MAX_PATTERN_LENGTH,
    MAX_PATTERNS,
    PATTERN_HELP,
    host_pattern_validator,
    host_patterns_problem,
)
from license_service.api.fields import StrictBooleanField, StrictCharField, StrictIntegerField
from license_service.api.spectacular_internals import map_basic_serializer


def _max_length(model: type[Model], name: str) -> int:
    field = model._meta.get_field(name)
    if not isinstance(field, CharField) or field.max_length is None:
        raise TypeError(f"{model.__name__}.{name} is not a CharField with a max_length")
    return field.max_length


_BRAND_NAME_MAX = _max_length(Brand, "name")
_BRAND_SLUG_MAX = _max_length(Brand, "slug")
_KEY_PREFIX_MAX = _max_length(Brand, "key_prefix")
_PRODUCT_NAME_MAX = _max_length(Product, "name")
_PRODUCT_SLUG_MAX = _max_length(Product, "slug")
_API_KEY_NAME_MAX = _max_length(BrandApiKey, "name")
# A JWT of this service is well under 1 KB; anything far longer is not one of ours.
MAX_TOKEN_LENGTH = 4096


class UpdateSerializer(serializers.Serializer[Any]):
    """A PATCH body: every field optional, at least one given, fixed fields refused by name."""

    immutable_fields: tuple[str, ...] = ()

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        fixed = [
            name for name in self.immutable_fields if isinstance(data, Mapping) and name in data
        ]
        errors: dict[str, Any] = {name: ["This field cannot be changed."] for name in fixed}
        try:
            values: dict[str, Any] = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            if isinstance(exc.detail, dict):
                errors.update(exc.detail)
            raise serializers.ValidationError(errors or exc.detail) from exc
        if errors:
            raise serializers.ValidationError(errors)
        return values

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs:
            allowed = ", ".join(self.fields)
            raise serializers.ValidationError(f"Nothing to update: send at least one of {allowed}.")
        return attrs


# --- brands --------------------------------------------------------------------------------


def host_patterns_field(**kwargs: Any) -> serializers.ListField:
    """A brand's ``non_production_patterns``: the schema states the rule exactly (so clients
    generate only valid ones); ``host_patterns_problem`` has the last word."""
    return serializers.ListField(
        child=StrictCharField(
            max_length=MAX_PATTERN_LENGTH,
            trim_whitespace=False,
            validators=[host_pattern_validator],
        ),
        max_length=MAX_PATTERNS,
        help_text=PATTERN_HELP,
        **kwargs,
    )


class HostPatternsMixin:
    def validate_non_production_patterns(self, value: list[str]) -> list[str]:
        problem = host_patterns_problem(value)
        if problem:
            raise serializers.ValidationError(problem)
        return value


EXPIRING_HELP = (
    "Days before a license expires that `license.expiring_soon` is announced (0: never)."
)


class BrandCreateInputSerializer(HostPatternsMixin, serializers.Serializer[Any]):
    name = StrictCharField(max_length=_BRAND_NAME_MAX)
    slug = StrictCharField(max_length=_BRAND_SLUG_MAX, validators=[slug_validator])
    key_prefix = StrictCharField(max_length=_KEY_PREFIX_MAX, validators=[key_prefix_validator])
    non_production_patterns = host_patterns_field(required=False)


class BrandUpdateInputSerializer(HostPatternsMixin, UpdateSerializer):
    immutable_fields = ("slug", "key_prefix")

    name = StrictCharField(max_length=_BRAND_NAME_MAX, required=False)
    is_active = StrictBooleanField(required=False)
    non_production_patterns = host_patterns_field(required=False)
    expiring_soon_days = StrictIntegerField(
        required=False, min_value=0, max_value=MAX_EXPIRING_SOON_DAYS, help_text=EXPIRING_HELP
    )


class BrandOutputSerializer(serializers.Serializer[Brand]):
    id = serializers.IntegerField()
    name = serializers.CharField()
    slug = serializers.CharField()
    key_prefix = serializers.CharField()
    is_active = serializers.BooleanField()
    non_production_patterns = serializers.ListField(
        child=serializers.CharField(), help_text=PATTERN_HELP
    )
    expiring_soon_days = serializers.IntegerField(help_text=EXPIRING_HELP)
    created_at = serializers.DateTimeField()


# --- brand API keys ------------------------------------------------------------------------


class ApiKeyCreateInputSerializer(serializers.Serializer[Any]):
    name = StrictCharField(max_length=_API_KEY_NAME_MAX)
    scopes = serializers.ListField(
        child=serializers.ChoiceField(choices=ALL_SCOPES),
        required=False,
        allow_empty=False,
        min_length=1,
        max_length=len(ALL_SCOPES) * 2,
        help_text="Defaults to licenses:read and licenses:write.",
    )


class ApiKeyOutputSerializer(serializers.Serializer[BrandApiKey]):
    """A key as listed: never its secret."""

    id = serializers.IntegerField()
    name = serializers.CharField()
    prefix = serializers.CharField(help_text="Visible start of the key, to tell keys apart.")
    scopes = serializers.ListField(child=serializers.CharField())
    created_at = serializers.DateTimeField()
    last_used_at = serializers.DateTimeField(allow_null=True)
    revoked_at = serializers.DateTimeField(allow_null=True)


class ApiKeyCreatedOutputSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    name = serializers.CharField()
    prefix = serializers.CharField()
    scopes = serializers.ListField(child=serializers.CharField())
    created_at = serializers.DateTimeField()
    api_key = serializers.CharField(help_text="The plain key. Shown in this response only.")


# --- products ------------------------------------------------------------------------------

HEARTBEAT_HELP = (
    "Seconds after which an activation not seen (no check with instance_identifier, "
    "activation or heartbeat) is dead: it no longer takes a seat, and its place may be "
    "reclaimed. Null: activations never go stale. At least the server's "
    "HEARTBEAT_MIN_SECONDS (60 unless configured), at most a year. Clients should heartbeat "
    "at least every heartbeat_seconds / 2."
)
NON_PRODUCTION_HELP = (
    "Staging and local activations a license may hold besides its seats (they take no "
    f"seat). 0 to {NON_PRODUCTION_LIMIT_MAX}; default 10."
)


def non_production_limit_field(**kwargs: Any) -> StrictIntegerField:
    return StrictIntegerField(
        min_value=0, max_value=NON_PRODUCTION_LIMIT_MAX, help_text=NON_PRODUCTION_HELP, **kwargs
    )


class HeartbeatFieldMixin:
    """``heartbeat_seconds`` is built per serializer instance: its minimum is the server's
    setting as it is now (tests lower it), in validation and in the OpenAPI document."""

    def get_fields(self) -> dict[str, serializers.Field[Any, Any, Any, Any]]:
        fields: dict[str, serializers.Field[Any, Any, Any, Any]] = super().get_fields()  # type: ignore[misc]
        fields["heartbeat_seconds"] = StrictIntegerField(
            min_value=heartbeat_min_seconds(),
            max_value=HEARTBEAT_MAX_SECONDS,
            required=False,
            allow_null=True,
            help_text=HEARTBEAT_HELP,
        )
        return fields


EDD_ITEM_ID_HELP = (
    "The product's Easy Digital Downloads item id (null: none): a WordPress plugin that "
    "sends it as item_id to /edd/<brand>/ matches this product. Unique within the brand."
)


TOKEN_LIFETIME_HELP = (
    "Lifetime of a signed license token (SPEC §12), in seconds: a token's exp is at most "
    "this far ahead and never past the license's expires_at. "
    f"{TOKEN_LIFETIME_MIN_SECONDS} to {TOKEN_LIFETIME_MAX_SECONDS}; default "
    f"{DEFAULT_TOKEN_LIFETIME_SECONDS} (7 days)."
)


def token_lifetime_field(**kwargs: Any) -> StrictIntegerField:
    return StrictIntegerField(
        min_value=TOKEN_LIFETIME_MIN_SECONDS,
        max_value=TOKEN_LIFETIME_MAX_SECONDS,
        help_text=TOKEN_LIFETIME_HELP,
        **kwargs,
    )


class ProductCreateInputSerializer(HeartbeatFieldMixin, serializers.Serializer[Any]):
    brand = StrictCharField(
        max_length=_BRAND_SLUG_MAX, validators=[slug_validator], help_text="Brand slug."
    )
    name = StrictCharField(max_length=_PRODUCT_NAME_MAX)
    slug = StrictCharField(max_length=_PRODUCT_SLUG_MAX, validators=[slug_validator])
    default_max_seats = StrictIntegerField(
        min_value=1,
        max_value=MAX_SEATS,
        required=False,
        allow_null=True,
        help_text="Seats of a new license unless provisioning says otherwise; null = unlimited.",
    )
    non_production_limit = non_production_limit_field(required=False)
    edd_item_id = StrictIntegerField(
        min_value=1,
        max_value=EDD_ITEM_ID_MAX,
        required=False,
        allow_null=True,
        help_text=EDD_ITEM_ID_HELP,
    )
    token_lifetime_seconds = token_lifetime_field(required=False)


class ProductUpdateInputSerializer(HeartbeatFieldMixin, UpdateSerializer):
    immutable_fields = ("brand", "slug")

    name = StrictCharField(max_length=_PRODUCT_NAME_MAX, required=False)
    default_max_seats = StrictIntegerField(
        min_value=1, max_value=MAX_SEATS, required=False, allow_null=True
    )
    non_production_limit = non_production_limit_field(required=False)
    edd_item_id = StrictIntegerField(
        min_value=1,
        max_value=EDD_ITEM_ID_MAX,
        required=False,
        allow_null=True,
        help_text=EDD_ITEM_ID_HELP,
    )
    token_lifetime_seconds = token_lifetime_field(required=False)


class ProductFilterSerializer(serializers.Serializer[Any]):
    # Any text: one that is not a brand's slug just matches no product.
    brand = StrictCharField(
        max_length=_BRAND_SLUG_MAX, required=False, help_text="Only the products of this brand."
    )


class ProductOutputSerializer(serializers.Serializer[Product]):
    id = serializers.IntegerField()
    brand = serializers.CharField(source="brand.slug", help_text="Brand slug.")
    name = serializers.CharField()
    slug = serializers.CharField()
    default_max_seats = serializers.IntegerField(allow_null=True)
    heartbeat_seconds = serializers.IntegerField(allow_null=True, help_text=HEARTBEAT_HELP)
    non_production_limit = serializers.IntegerField(help_text=NON_PRODUCTION_HELP)
    edd_item_id = serializers.IntegerField(allow_null=True, help_text=EDD_ITEM_ID_HELP)
    token_lifetime_seconds = serializers.IntegerField(help_text=TOKEN_LIFETIME_HELP)
    created_at = serializers.DateTimeField()


# --- signing keys (SPEC §12) ---------------------------------------------------------------


class SigningKeyOutputSerializer(serializers.Serializer[Any]):
    """A signing key as staff see it: never its private half."""

    kid = serializers.CharField()
    created_at = serializers.DateTimeField()
    retired_at = serializers.DateTimeField(allow_null=True)
    signed_until = serializers.DateTimeField(
        allow_null=True,
        help_text="The latest expiry a token it signed may carry (null: it signed nothing).",
    )
    published = serializers.BooleanField(help_text="Whether the key is in the JWKS now.")


class JwkOutputSerializer(serializers.Serializer[Any]):
    kty = serializers.ChoiceField(choices=["OKP"])
    crv = serializers.ChoiceField(choices=["Ed25519"])
    x = serializers.CharField(help_text="The raw public key, base64url.")
    kid = serializers.CharField()
    alg = serializers.ChoiceField(choices=["EdDSA"])
    use = serializers.ChoiceField(choices=["sig"])


class JwksOutputSerializer(serializers.Serializer[Any]):
    keys = JwkOutputSerializer(many=True)


# --- tokens --------------------------------------------------------------------------------


class StaffTokenObtainInputSerializer(TokenObtainPairSerializer):
    """simplejwt's pair serializer with strict string fields. Its ``authenticate()`` gets
    the request, so django-axes counts the attempt (``brands.lockout``): a locked-out
    username or IP is 429 ``throttled``, the right password included."""

    token_class = StaffRefreshToken

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields[self.username_field] = StrictCharField(write_only=True, max_length=150)
        self.fields["password"] = StrictCharField(
            write_only=True, max_length=1024, trim_whitespace=False
        )

    def validate(self, attrs: dict[str, Any]) -> dict[str, str]:
        try:
            data = super().validate(attrs)
        except exceptions.AuthenticationFailed:
            if lockout.is_locked_out(self.context.get("request")):
                raise lockout.login_locked_out() from None
            raise
        assert self.user is not None  # noqa: S101 (simplejwt raised above otherwise)
        lockout.login_failures_forget(username=self.user.get_username())
        return data


class StaffTokenRefreshInputSerializer(TokenRefreshSerializer):
    """Rotation: the answer carries a new refresh token and the one sent is blacklisted."""

    refresh = StrictCharField(max_length=MAX_TOKEN_LENGTH)
    token_class = StaffRefreshToken

    def validate(self, attrs: dict[str, Any]) -> dict[str, str]:
        try:
            return super().validate(attrs)
        except get_user_model().DoesNotExist as exc:  # the user was deleted
            raise exceptions.AuthenticationFailed(
                self.error_messages["no_active_account"], "no_active_account"
            ) from exc


class StaffTokenRevokeInputSerializer(TokenBlacklistSerializer):
    refresh = StrictCharField(max_length=MAX_TOKEN_LENGTH, write_only=True)
    token_class = StaffRefreshToken


class TokenPairOutputSerializer(serializers.Serializer[Any]):
    access = serializers.CharField()
    refresh = serializers.CharField()


class TokenRefreshOutputSerializer(serializers.Serializer[Any]):
    access = serializers.CharField()
    refresh = serializers.CharField(
        help_text="The next refresh token: the one sent is no longer valid."
    )


class BrandTokenInputSerializer(serializers.Serializer[Any]):
    api_key = StrictCharField(max_length=MAX_API_KEY_LENGTH)


class BrandTokenOutputSerializer(serializers.Serializer[Any]):
    access = serializers.CharField()
    token_type = serializers.CharField(default="Bearer")
    expires_in = serializers.IntegerField(help_text="Seconds until the token expires.")


class UpdateSerializerSchema(OpenApiSerializerExtension):
    """Document what ``UpdateSerializer`` enforces: its fixed fields may not be sent."""

    target_class = UpdateSerializer
    match_subclasses = True

    def map_serializer(self, auto_schema: Any, direction: Any) -> dict[str, Any]:
        schema = map_basic_serializer(auto_schema, self.target, direction)
        fixed = list(getattr(self.target, "immutable_fields", ()))
        if fixed and direction == "request":
            schema["not"] = {"anyOf": [{"required": [name]} for name in fixed]}
        return schema

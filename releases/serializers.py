"""Input and output shapes of the releases brand API."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from activations.serializers import (
    INSTANCE_HELP,
    LICENSE_KEY_HELP,
    MAX_QUERY_INSTANCE_IDENTIFIER_LENGTH,
    MAX_SLUG_LENGTH,
    InstanceIdentifierField,
)
from license_service.api.fields import StrictBooleanField, StrictCharField
from licensing.keys import MAX_KEY_INPUT_LENGTH
from releases.models import Release
from releases.versions import MAX_VERSION_LENGTH

# One release's notes. A PATCH body is JSON within DATA_UPLOAD_MAX_MEMORY_SIZE (64 KiB), where
# a character may take 6 bytes (a \uXXXX escape): 10,000 of them always fit.
MAX_CHANGELOG_CHARS = 10_000
MAX_COMPAT_CHARS = 32
VERSION_HELP = (
    "Compared as PHP's version_compare does. Letters, digits and . + _ -, starting and ending "
    "with a letter or digit, e.g. 1.2.0 or 2.0.0-beta.1."
)
VERSION_PATTERN = r"^[0-9A-Za-z]([0-9A-Za-z.+_-]{0,62}[0-9A-Za-z])?$"


def _compat_field(help_text: str) -> serializers.CharField:
    return serializers.CharField(
        required=False, allow_blank=True, max_length=MAX_COMPAT_CHARS, help_text=help_text
    )


class ReleaseNotesMixin(serializers.Serializer[Any]):
    changelog = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=MAX_CHANGELOG_CHARS,
        trim_whitespace=False,
        help_text="Markdown.",
    )
    requires = _compat_field("Lowest WordPress version.")
    requires_php = _compat_field("Lowest PHP version.")
    tested = _compat_field("WordPress version tested up to.")


class ReleaseCreateInputSerializer(ReleaseNotesMixin):
    package = serializers.FileField(help_text="The plugin's zip.", allow_empty_file=False)
    version = serializers.RegexField(
        VERSION_PATTERN, max_length=MAX_VERSION_LENGTH, help_text=VERSION_HELP
    )
    channel = serializers.ChoiceField(
        choices=Release.Channel.choices, required=False, default=Release.Channel.STABLE
    )


class ReleaseUpdateInputSerializer(ReleaseNotesMixin):
    published = StrictBooleanField(
        required=False, help_text="true publishes a draft (a published release stays so)."
    )
    yanked = StrictBooleanField(
        required=False, help_text="true withdraws the release (it cannot come back)."
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs:
            raise serializers.ValidationError("Nothing to update: send at least one field.")
        return attrs


class ReleaseOutputSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    product = serializers.CharField(source="product.slug")
    version = serializers.CharField()
    channel = serializers.ChoiceField(choices=Release.Channel.choices)
    sha256 = serializers.CharField()
    size = serializers.IntegerField()
    changelog = serializers.CharField()
    requires = serializers.CharField()
    requires_php = serializers.CharField()
    tested = serializers.CharField()
    published = serializers.BooleanField(source="is_published")
    published_at = serializers.DateTimeField(allow_null=True)
    yanked = serializers.BooleanField(source="is_yanked")
    yanked_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class ReleaseListOutputSerializer(serializers.Serializer[Any]):
    results = ReleaseOutputSerializer(many=True)


# --- the native update check (GET /api/v1/product/updates) ----------------------------------


class UpdatesQuerySerializer(serializers.Serializer[Any]):
    """Query of ``GET /api/v1/product/updates``."""

    license_key = StrictCharField(max_length=MAX_KEY_INPUT_LENGTH, help_text=LICENSE_KEY_HELP)
    product_slug = StrictCharField(max_length=MAX_SLUG_LENGTH)
    version = StrictCharField(
        required=False,
        max_length=MAX_VERSION_LENGTH,
        help_text="The version installed: update_available compares with it (PHP's "
        "version_compare), and the changelogs shown are those of the releases since.",
    )
    channel = serializers.ChoiceField(
        choices=Release.Channel.choices,
        required=False,
        default=Release.Channel.STABLE,
        help_text="beta: the beta channel's releases too.",
    )
    instance_identifier = InstanceIdentifierField(
        required=False,
        max_length=MAX_QUERY_INSTANCE_IDENTIFIER_LENGTH,
        help_text="The site asking (counts as its heartbeat); a package URL is given only "
        "when it holds an active seat of the license. " + INSTANCE_HELP,
    )


class UpdatesOutputSerializer(serializers.Serializer[Any]):
    success = serializers.BooleanField()
    product_slug = serializers.CharField()
    license_status = serializers.ChoiceField(choices=["valid", "suspended", "cancelled", "expired"])
    instance_active = serializers.BooleanField(
        allow_null=True, help_text="null without instance_identifier."
    )
    update_available = serializers.BooleanField(
        help_text="A release newer than `version` is offered (any release without `version`)."
    )
    version = serializers.CharField(allow_null=True, help_text="The release offered.")
    channel = serializers.ChoiceField(choices=Release.Channel.choices, allow_null=True)
    published_at = serializers.DateTimeField(allow_null=True)
    requires = serializers.CharField(allow_blank=True)
    requires_php = serializers.CharField(allow_blank=True)
    tested = serializers.CharField(allow_blank=True)
    sha256 = serializers.CharField(allow_null=True)
    size = serializers.IntegerField(allow_null=True)
    changelog_html = serializers.CharField(
        allow_blank=True,
        help_text="The changelogs of the releases since `version`, up to the one offered, "
        "rendered from Markdown (raw HTML escaped).",
    )
    package_url = serializers.URLField(
        allow_null=True,
        help_text="Signed and expiring (DOWNLOAD_URL_TTL), bound to the license, release and "
        "site; null when the site may not download (see message).",
    )
    message = serializers.CharField(allow_null=True, help_text="Why there is no package.")

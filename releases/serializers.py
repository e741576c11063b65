"""Input and output shapes of the releases brand API."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from license_service.api.fields import StrictBooleanField
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

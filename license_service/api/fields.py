"""Strict input fields: a wrong JSON type is an error, never silently coerced."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import RegexValidator
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from rest_framework import serializers

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

# No C0/C1 control characters, and at least one character that is neither whitespace nor
# control. Written for both regex dialects: OpenAPI patterns are ECMA-262, the server's are
# Python's, and the two disagree on what \s covers (U+001C-U+001F and U+0085 are
# whitespace to Python's str.strip(); U+FEFF only to ECMA), so all of those are named.
_CONTROL = "\\x00-\\x1f\\x7f-\\x9f"
VISIBLE_TEXT = RegexValidator(
    rf"^[^{_CONTROL}]*[^\s{_CONTROL}\ufeff][^{_CONTROL}]*\Z",
    "Must contain a visible character and no control characters.",
)


def visible_text(value: str, *, max_length: int | None) -> str:
    """``value`` trimmed, if it is text a person typed: at most ``max_length`` characters
    as sent, no control characters, something visible. Raises ValueError with the
    problem. The one rule of ``StrictCharField`` and of the hot paths that skip DRF."""
    if max_length is not None and len(value) > max_length:
        raise ValueError(f"Ensure this field has no more than {max_length} characters.")
    try:
        VISIBLE_TEXT(value)
    except DjangoValidationError as exc:
        raise ValueError(VISIBLE_TEXT.message) from exc
    return value.strip()


class StrictCharField(serializers.CharField):
    """A string and nothing else (DRF's CharField accepts numbers)."""

    default_error_messages: ClassVar[dict[str, StrOrPromise]] = {"invalid": "Must be a string."}

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        if not self.allow_blank and not any(isinstance(v, RegexValidator) for v in self.validators):
            # Whitespace alone is blank once trimmed, and control characters have no place
            # in a name: say both in the OpenAPI document too. A field with its own pattern
            # (slugs, key prefixes) already excludes them.
            self.validators.append(VISIBLE_TEXT)

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        # Limits apply to what was sent, not to what is left after trimming.
        if VISIBLE_TEXT in self.validators:
            try:
                visible_text(data, max_length=self.max_length)
            except ValueError as exc:
                raise serializers.ValidationError(str(exc)) from exc
        elif self.max_length is not None and len(data) > self.max_length:
            self.fail("max_length", max_length=self.max_length)
        return super().to_internal_value(data)


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer; strings, floats and booleans are refused."""

    default_error_messages: ClassVar[dict[str, StrOrPromise]] = {"invalid": "Must be an integer."}

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    default_error_messages: ClassVar[dict[str, StrOrPromise]] = {
        "invalid": "Must be true or false."
    }

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


class StrictEmailField(serializers.EmailField):
    default_error_messages: ClassVar[dict[str, StrOrPromise]] = {
        "invalid": "Enter a valid email address.",
        "type": "Must be a string.",
    }

    def __init__(self, **kwargs: Any):
        kwargs.setdefault("max_length", 254)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("type")
        return super().to_internal_value(data.strip()).lower()


class FutureAwareDateTimeField(serializers.DateTimeField):
    """ISO 8601 with an explicit offset, strictly in the future."""

    default_error_messages: ClassVar[dict[str, StrOrPromise]] = {
        "naive": "Must include a timezone offset (e.g. 2030-01-01T00:00:00Z).",
        "past": "Must be in the future.",
        "type": "Must be an ISO 8601 string.",
    }

    def to_internal_value(self, value: Any) -> datetime:
        if not isinstance(value, str):
            self.fail("type")
        try:
            parsed = parse_datetime(value.strip())
        except ValueError:
            parsed = None
        if parsed is None:
            self.fail("invalid", format="YYYY-MM-DDThh:mm[:ss[.uuuuuu]]+HH:MM")
        assert parsed is not None  # noqa: S101 (narrowing for mypy; fail() raises)
        if timezone.is_naive(parsed):
            self.fail("naive")
        if parsed <= timezone.now():
            self.fail("past")
        try:
            return parsed.astimezone(UTC)
        except OverflowError:
            self.fail("invalid", format="a date before year 9999")
            raise

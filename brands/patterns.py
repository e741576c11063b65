"""A brand's own non-production host patterns (SPEC §10), and why one is refused.

Host globs: lower-case labels of letters, digits, ``-`` and ``*`` (any run of characters,
dots included), at least two labels, the last without ``*``: ``*.staging.example.com``,
``dev-*.example.org``. ``activations.environment`` matches them against an instance's host;
the staff API and the admin validate them here (``brands`` may not import ``activations``).
"""

from __future__ import annotations

import re

from django.core.validators import RegexValidator

MIN_PATTERN_LABELS = 2
_LABEL = r"[a-z0-9*](?:[a-z0-9*-]{0,61}[a-z0-9*])?"
_LAST_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_PATTERN_LABEL = re.compile(_LABEL)
MAX_PATTERN_LENGTH = 253
MAX_PATTERNS = 100
PATTERN_HELP = (
    "Host globs whose activations are staging (take no seat), besides the built-in rules: "
    "lower-case labels of letters, digits, '-' and '*' (any run of characters, dots "
    "included), at least two labels, the last without '*', e.g. '*.staging.example.com', "
    "'dev-*.example.org'. Patterns must already be lower-case: they match the normalized "
    f"(lower-case, punycode) host. At most {MAX_PATTERNS}."
)
# The same rule as ``host_pattern_problem`` as one regular expression (for the OpenAPI
# document, whose clients then generate only valid patterns); the function stays the
# authority and says why in words.
host_pattern_validator = RegexValidator(
    rf"^(?:{_LABEL}\.)+{_LAST_LABEL}\Z",
    "Not a host glob: lower-case labels of letters, digits, '-' and '*', separated by dots, "
    "at least two labels, the last without '*' (e.g. '*.staging.example.com').",
)


def host_pattern_problem(pattern: object) -> str | None:
    """Why a brand's host pattern is refused, in words for a client; None if it is valid."""
    if not isinstance(pattern, str):
        return "Each pattern must be a string."
    if not pattern or len(pattern) > MAX_PATTERN_LENGTH:
        return f"Each pattern must be 1-{MAX_PATTERN_LENGTH} characters."
    labels = pattern.split(".")
    if len(labels) < MIN_PATTERN_LABELS or not all(map(_PATTERN_LABEL.fullmatch, labels)):
        return (
            f"{pattern!r} is not a host glob: lower-case labels of letters, digits, '-' and "
            "'*', separated by dots, at least two labels (e.g. '*.staging.example.com')."
        )
    if "*" in labels[-1]:
        return f"{pattern!r}: the last label (the top-level domain) may not hold '*'."
    return None


def host_patterns_problem(patterns: object) -> str | None:
    """Why a brand's list of host patterns is refused; None if it is valid."""
    if not isinstance(patterns, list):
        return "Must be a list of host patterns."
    if len(patterns) > MAX_PATTERNS:
        return f"At most {MAX_PATTERNS} patterns."
    for pattern in patterns:
        problem = host_pattern_problem(pattern)
        if problem:
            return problem
    return None

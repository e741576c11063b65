"""PHP's ``version_compare``, exactly: WordPress and the EDD updater compare versions with it,
so the service must order releases the way the plugin on the site will.

A port of ``php_canonicalize_version`` and ``php_version_compare`` (php-src
``ext/standard/versioning.c``), checked against php-src's own test table
(``ext/standard/tests/versioning/version_compare.phpt``) in tests/releases/test_versions.py.

Two consequences people do not expect, both PHP's own answers:
- a missing part is lower than any number: ``1.0 < 1.0.0`` (not equal);
- ``#`` ranks with numbers (a number part is compared as the special form ``#N#``).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

from license_service.errors import ValidationFailed

MAX_VERSION_LENGTH = 64
# Starts and ends with a letter or digit: a trailing separator would canonicalize to an empty
# last part, where PHP's comparison stops being antisymmetric ("1." < "1.dev" and
# "1.dev" < "1." both hold in PHP).
_VERSION_RE = re.compile(r"[0-9A-Za-z](?:[0-9A-Za-z.+_-]*[0-9A-Za-z])?")

# strtol on a 64-bit PHP build saturates at LONG_MAX.
_LONG_MAX = 2**63 - 1
_DIGITS = frozenset("0123456789")
_ALNUM = frozenset("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_SPECIAL_SEPARATORS = frozenset("-_+")
# Matched as prefixes, in this order (so "alpha1" is alpha, "pl" wins over "p", and a number
# part, compared as "#N#", ranks with "#").
_SPECIAL_FORMS = (
    ("dev", 0),
    ("alpha", 1),
    ("a", 1),
    ("beta", 2),
    ("b", 2),
    ("RC", 3),
    ("rc", 3),
    ("#", 4),
    ("pl", 5),
    ("p", 5),
)
_NUMBER = "#N#"


def _isdigit(char: str) -> bool:
    return char in _DIGITS


def _isndig(char: str) -> bool:
    return char not in _DIGITS and char != "."


def canonicalize(version: str) -> str:
    """``php_canonicalize_version``: ``-``, ``_``, ``+`` and any other non-alphanumeric
    character become one ``.``; a ``.`` goes between a digit and a non-digit; the first
    character is kept as it is."""
    if not version:
        return ""
    out = [version[0]]
    last = version[0]
    for char in version[1:]:
        previous_out = out[-1]
        if char in _SPECIAL_SEPARATORS:
            if previous_out != ".":
                out.append(".")
        elif (_isndig(last) and _isdigit(char)) or (_isdigit(last) and _isndig(char)):
            if previous_out != ".":
                out.append(".")
            out.append(char)
        elif char not in _ALNUM:
            if previous_out != ".":
                out.append(".")
        else:
            out.append(char)
        last = char
    return "".join(out)


def _special_order(form: str) -> int:
    for name, order in _SPECIAL_FORMS:
        if form.startswith(name):
            return order
    return -1


def _sign(value: int) -> int:
    return (value > 0) - (value < 0)


def _strtol(part: str) -> int:
    digits = ""
    for char in part:
        if char not in _DIGITS:
            break
        digits += char
    return min(int(digits), _LONG_MAX)


def _compare_parts(part1: str, part2: str) -> int:
    digit1 = _isdigit(part1[:1])
    digit2 = _isdigit(part2[:1])
    if digit1 and digit2:
        return _sign(_strtol(part1) - _strtol(part2))
    if not digit1 and not digit2:
        return _sign(_special_order(part1) - _special_order(part2))
    if digit1:
        return _sign(_special_order(_NUMBER) - _special_order(part2))
    return _sign(_special_order(part1) - _special_order(_NUMBER))


def version_compare(version1: str, version2: str) -> int:
    """-1, 0 or 1, as PHP's ``version_compare($version1, $version2)`` answers."""
    if not version1 or not version2:
        return _sign(bool(version1) - bool(version2))
    rest1 = version1 if version1[0] == "#" else canonicalize(version1)
    rest2 = version2 if version2[0] == "#" else canonicalize(version2)
    # rest*: the string from PHP's p* pointer on; more*: PHP's n* pointer is not NULL.
    more1 = more2 = True
    compare = 0
    while rest1 and rest2 and more1 and more2:
        dot1 = rest1.find(".")
        dot2 = rest2.find(".")
        more1, more2 = dot1 != -1, dot2 != -1
        compare = _compare_parts(rest1[:dot1] if more1 else rest1, rest2[:dot2] if more2 else rest2)
        if compare != 0:
            break
        if more1:
            rest1 = rest1[dot1 + 1 :]
        if more2:
            rest2 = rest2[dot2 + 1 :]
    if compare == 0:
        if more1:
            compare = 1 if _isdigit(rest1[:1]) else version_compare(rest1, _NUMBER)
        elif more2:
            compare = -1 if _isdigit(rest2[:1]) else version_compare(_NUMBER, rest2)
    return compare


version_sort_key: Callable[[str], Any] = functools.cmp_to_key(version_compare)


def version_validate(version: Any, *, field: str = "version") -> str:
    """The version string, or ``ValidationFailed`` naming ``field`` with why it is none."""
    if not isinstance(version, str) or not version:
        problem = "A version is required."
    elif len(version) > MAX_VERSION_LENGTH:
        problem = f"At most {MAX_VERSION_LENGTH} characters."
    elif not _VERSION_RE.fullmatch(version):
        problem = (
            "Not a version: use letters, digits and . + _ - only, starting and ending with "
            "a letter or digit (e.g. 1.2.0 or 2.0.0-beta.1)."
        )
    else:
        return version
    raise ValidationFailed(f"Invalid {field}.", details={field: [problem]})

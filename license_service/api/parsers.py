"""A JSON parser that refuses what would otherwise reach the database or blow the stack:
absurd nesting, NUL bytes, unpaired surrogates, NaN/Infinity, and non-object bodies.

NUL bytes and unpaired surrogates are refused here, for every field of every endpoint at
once (PostgreSQL stores neither, and a field that forgot to check would answer 500), and
each field holding one is named in ``details`` like any other field problem (SPEC §3)."""

from __future__ import annotations

import json
from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from license_service.errors import ValidationFailed

MAX_DEPTH = 16
NON_FIELD = "non_field_errors"  # DRF's name for a problem of the whole body


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def bad_string_reason(value: str) -> str | None:
    if "\x00" in value:
        return "NUL bytes are not allowed."
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "Unpaired surrogates are not allowed."
    return None


def _check_tree(root: Any) -> None:
    """Refuse nesting past MAX_DEPTH (ParseError) and strings no database stores
    (ValidationFailed naming each field that holds one)."""
    clean = True
    stack: list[tuple[Any, int]] = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ParseError(f"JSON nested deeper than {MAX_DEPTH} levels.")
        if isinstance(node, dict):
            for key, value in node.items():
                clean = clean and bad_string_reason(key) is None
                stack.append((value, depth + 1))
        elif isinstance(node, list):
            stack.extend((item, depth + 1) for item in node)
        elif isinstance(node, str) and clean:
            clean = bad_string_reason(node) is None
    if not clean:
        problems: dict[str, list[str]] = {}
        _name_bad_strings(root, "", problems)
        raise ValidationFailed("Invalid input.", details=problems)


def _name_bad_strings(node: Any, path: str, problems: dict[str, list[str]]) -> None:
    """Each bad string of a tree (at most MAX_DEPTH deep) under the name DRF gives a field
    error there: ``field``, ``field.sub``, ``field.0``; a bad key under its parent's.
    Only walked once a bad string was found, so a clean body pays nothing for the names."""
    if isinstance(node, dict):
        for key, value in node.items():
            reason = bad_string_reason(key)
            if reason:
                problems.setdefault(path or NON_FIELD, []).append(f"Invalid object key: {reason}")
            else:
                _name_bad_strings(value, f"{path}.{key}" if path else key, problems)
    elif isinstance(node, list):
        for index, item in enumerate(node):
            _name_bad_strings(item, f"{path}.{index}" if path else str(index), problems)
    elif isinstance(node, str):
        reason = bad_string_reason(node)
        if reason:
            problems.setdefault(path or NON_FIELD, []).append(reason)


def parse_json_object(raw: bytes) -> dict[str, Any]:
    """Parse a request body into a dict, or raise ``ParseError`` with a clear message
    (``ValidationFailed`` naming the fields that hold NUL bytes or unpaired surrogates)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ParseError("Request body is not valid UTF-8.") from exc
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except RecursionError as exc:
        raise ParseError(f"JSON nested deeper than {MAX_DEPTH} levels.") from exc
    except ValueError as exc:
        raise ParseError(f"Malformed JSON: {exc}") from exc
    _check_tree(data)
    if not isinstance(data, dict):
        raise ParseError("The request body must be a JSON object.")
    return data


class StrictJSONParser(JSONParser):
    def parse(self, stream: Any, media_type: Any = None, parser_context: Any = None) -> Any:
        raw = stream.read() if stream is not None else b""
        return parse_json_object(raw)

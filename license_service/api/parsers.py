"""A JSON parser that refuses what would otherwise reach the database or blow the stack:
absurd nesting, NUL bytes, unpaired surrogates, NaN/Infinity, and non-object bodies."""

from __future__ import annotations

import json
from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

MAX_DEPTH = 16


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
    stack: list[tuple[Any, int]] = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ParseError(f"JSON nested deeper than {MAX_DEPTH} levels.")
        if isinstance(node, dict):
            for key, value in node.items():
                reason = bad_string_reason(key)
                if reason:
                    raise ParseError(f"Invalid object key: {reason}")
                stack.append((value, depth + 1))
        elif isinstance(node, list):
            stack.extend((item, depth + 1) for item in node)
        elif isinstance(node, str):
            reason = bad_string_reason(node)
            if reason:
                raise ParseError(reason)


def parse_json_object(raw: bytes) -> dict[str, Any]:
    """Parse a request body into a dict, or raise ``ParseError`` with a clear message."""
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

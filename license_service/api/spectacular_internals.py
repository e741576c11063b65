"""The two places the OpenAPI document needs drf-spectacular beyond its public API.

drf-spectacular 0.30.0 (pinned in pyproject.toml; tests/ops/test_openapi.py pins it too, and
fails on an upgrade until this module is re-checked):

- A ``DELETE`` body is documented only by overriding ``AutoSchema._get_request_body``: the
  generator documents request bodies of POST, PUT and PATCH alone, and SPEC §6 gives
  ``DELETE /activate`` a JSON body. Without it the document would say that endpoint takes no
  body, and the OpenAPI fuzz would never send one.
- A serializer extension that adds to the generated schema calls the AutoSchema's
  ``_map_basic_serializer`` back, as drf-spectacular's own extensions do (its public
  ``_map_serializer`` would call the extension again).

Re-check both on an upgrade: the document must still show ``DELETE /api/v1/product/activate``
with a request body and the brand PATCH bodies with their ``not`` clause
(tests/ops/test_openapi.py asserts both).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema

# The version this module was written and checked against.
WRITTEN_FOR = "0.30.0"


class BodyOnDeleteSchema(AutoSchema):
    """An AutoSchema that documents a ``DELETE`` operation's request body as a POST's."""

    def _get_request_body(self, direction: str = "request") -> Any:
        method = self.method
        if method == "DELETE":
            self.method = "POST"
        try:
            return super()._get_request_body(direction)  # type: ignore[no-untyped-call]  # unannotated upstream
        finally:
            self.method = method


def map_basic_serializer(auto_schema: Any, serializer: Any, direction: Any) -> dict[str, Any]:
    """The schema drf-spectacular generates for ``serializer``, from inside a serializer
    extension's ``map_serializer`` (the AutoSchema it was handed)."""
    schema: dict[str, Any] = auto_schema._map_basic_serializer(serializer, direction)  # noqa: SLF001 (this module's purpose, see its docstring)
    return schema

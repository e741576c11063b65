"""Cursor pagination shared by every list endpoint: ``{next, previous, results}``.

Cursors, not page numbers: a list stays stable while rows are added, and a deep page costs
no more than the first. ``?page_size=`` (1–200) overrides the default of 50.

The cursor is opaque to clients but not trusted: DRF decodes it and would put its position
straight into a ``WHERE`` clause, so a forged position that the column cannot hold (text for
an id, an id past 64 bits, a NUL byte) is refused as an invalid cursor instead of reaching
the database and failing there as a 500 (404 ``not_found``, as for any cursor DRF cannot
decode). A cursor longer than any this paginator makes (``MAX_CURSOR_LENGTH``) is a 400
``validation_error`` naming it, as the OpenAPI document's ``maxLength`` says. A
``page_size`` outside 1–200 is a 400 ``validation_error`` naming it (DRF would
silently ignore it).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Field, Model, QuerySet
from rest_framework.exceptions import NotFound
from rest_framework.exceptions import ValidationError as DRFValidationError
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

_BIGINT_MIN, _BIGINT_MAX = -(2**63), 2**63 - 1
_MAX_POSITION_LENGTH = 100
# The longest cursor this paginator makes is ~75 characters (offset 1000, reversed, a
# timestamp position); the bound keeps a list URL's request line within server limits.
MAX_CURSOR_LENGTH = 128


class DefaultCursorPagination(CursorPagination):
    """Newest first by primary key (unique and never changes: what a cursor needs).

    Subclass and set ``ordering`` (a unique, immutable column) for another order."""

    ordering: Any = "-id"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
    # Pages are JSON only; the browsable API template is never rendered.
    template = None

    _model: type[Model] | None = None

    def paginate_queryset(
        self, queryset: QuerySet[Any], request: Request, view: Any = None
    ) -> list[Any] | None:
        self._model = queryset.model
        return super().paginate_queryset(queryset, request, view)

    def decode_cursor(self, request: Request) -> Cursor | None:
        # The page a forged cursor points to does not exist: 404, as DRF answers.
        invalid = NotFound(self.invalid_cursor_message)
        values = request.query_params.getlist(self.cursor_query_param)
        if len(values) > 1:
            raise invalid
        if values and len(values[0]) > MAX_CURSOR_LENGTH:
            raise DRFValidationError(
                {self.cursor_query_param: [f"At most {MAX_CURSOR_LENGTH} characters."]}
            )
        try:
            cursor = super().decode_cursor(request)
        except NotFound as exc:
            raise invalid from exc
        position = cursor.position if cursor is not None else None
        if position is not None and not self._position_is_sane(str(position)):
            raise invalid
        return cursor

    def get_page_size(self, request: Request) -> int:
        values = request.query_params.getlist(self.page_size_query_param)
        if not values:
            return self.page_size
        problem = f"Must be an integer from 1 to {self.max_page_size}."
        if len(values) > 1 or not values[0].isascii() or not values[0].isdigit():
            raise DRFValidationError({self.page_size_query_param: [problem]})
        size = int(values[0])
        if not 1 <= size <= self.max_page_size:
            raise DRFValidationError({self.page_size_query_param: [problem]})
        return size

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"].update({"minimum": 1, "maximum": self.max_page_size})
            elif parameter["name"] == self.cursor_query_param:
                parameter["schema"]["maxLength"] = MAX_CURSOR_LENGTH
        return parameters

    def _position_is_sane(self, position: str) -> bool:
        if len(position) > _MAX_POSITION_LENGTH or "\x00" in position:
            return False
        if self._model is None:
            return True
        first = self.ordering if isinstance(self.ordering, str) else self.ordering[0]
        field = self._model._meta.get_field(first.lstrip("-"))
        if not isinstance(field, Field):
            return True
        try:
            value = field.to_python(position)
        except (ValidationError, ValueError, TypeError, OverflowError):
            return False
        return not (isinstance(value, int) and not _BIGINT_MIN <= value <= _BIGINT_MAX)


def paginated_response(
    *,
    queryset: QuerySet[Any],
    serializer_class: type[BaseSerializer[Any]],
    request: Request,
    view: Any,
) -> Response:
    """One page of ``queryset`` rendered with ``serializer_class``, for plain ``APIView``s.

    The paginator is the view's ``pagination_class`` (``DefaultCursorPagination`` if it has
    none); set it on the view so drf-spectacular documents the paginated envelope and the
    ``cursor`` / ``page_size`` parameters too."""
    pagination_class = getattr(view, "pagination_class", None) or DefaultCursorPagination
    paginator = pagination_class()
    page = paginator.paginate_queryset(queryset, request, view=view)
    serializer = serializer_class(page, many=True)
    return paginator.get_paginated_response(serializer.data)

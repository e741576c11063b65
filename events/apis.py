"""Brand API: the event feed (SPEC §13)."""

from __future__ import annotations

from urllib.parse import urlencode

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from brands.authentication import BRAND_AUTHENTICATION, BrandPrincipal
from brands.permissions import IsBrand
from events.selectors import event_body, events_feed
from events.serializers import FeedPageSerializer, FeedQuerySerializer
from license_service.api.schema import error_responses


class EventFeedApi(APIView):
    authentication_classes = BRAND_AUTHENTICATION
    permission_classes = [IsBrand]

    @extend_schema(
        tags=["brand"],
        summary="The brand's events, in order (SPEC §13)",
        description="Every event of this brand exactly once, in feed order: poll with "
        "`after` = the id of the last event you processed (an id that is no event of "
        "this brand: 404 `not_found`). An event whose transaction "
        "commits late is placed after every event already served, never before.",
        parameters=[FeedQuerySerializer],
        responses={
            200: FeedPageSerializer,
            **error_responses(
                "validation_error", "not_authenticated", "permission_denied", "not_found"
            ),
        },
    )
    def get(self, request: Request) -> Response:
        principal = request.user
        assert isinstance(principal, BrandPrincipal)  # noqa: S101 (IsBrand guarantees it)
        query = FeedQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        type_ = params.get("type") or None
        events, more = events_feed(
            principal.brand, after=params.get("after"), type_=type_, limit=params["limit"]
        )
        slug = principal.brand.slug
        next_url = None
        if more:
            next_params = {"after": events[-1].pk, "limit": params["limit"]}
            if type_:
                next_params["type"] = type_
            next_url = request.build_absolute_uri(f"{request.path}?{urlencode(next_params)}")
        return Response(
            {"results": [event_body(event, slug) for event in events], "next": next_url}
        )

"""Staff API seat release (SPEC §4), mounted at ``/api/v1/``: the console's "Release seats"
button by API. Lives with the seat services (activations -> licensing), beside the
licensing room's ``staff_apis`` it extends."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from activations.services import activations_release
from brands.apis import STAFF_ERRORS, STAFF_TAG, staff_actor
from license_service.api.schema import error_responses
from licensing.selectors import license_get_for_staff
from licensing.staff_apis import LICENSE_ID_PARAMETER, StaffActionApi


class StaffActivationReleaseApi(StaffActionApi):
    staff_permission = "licensing.release_activation"

    @extend_schema(
        tags=[STAFF_TAG],
        summary="Release one activation of a license (frees its seat)",
        description="Whatever the license's status; audited `activation.released` with the "
        "staff user as actor. Needs `licensing.release_activation` (as the console's button).",
        parameters=[
            LICENSE_ID_PARAMETER,
            OpenApiParameter("activation_id", int, OpenApiParameter.PATH),
        ],
        responses={
            204: None,
            **error_responses(*STAFF_ERRORS, "not_found", "activation_not_found"),
        },
    )
    def delete(self, request: Request, license_id: str, activation_id: str) -> Response:
        license_ = license_get_for_staff(int(license_id))
        activations_release(
            license_=license_, activation_ids=[int(activation_id)], actor=staff_actor(request)
        )
        return Response(status=204)

"""Staff API for licenses and keys (SPEC §4), mounted at ``/api/v1/`` (staff JWT).

Staff see every brand. Each action checks the very Django permission the console's button
checks (``licensing.suspend_license``, …; migration 0004 gives them to the groups
``support`` and ``billing``) and calls the same ``licensing.services`` function (audit row
with the staff user as actor, event, check-cache invalidation on commit). A seat is
released by ``activations.staff_apis`` (the seat services live there).

No Idempotency-Key here: the brand API honours it on provisioning only, and every action
below is idempotent in its effect or refused by its transition (409).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from brands.apis import (
    STAFF_ERRORS,
    STAFF_TAG,
    WRITE_ERRORS,
    StaffJWTAuthentication,
    staff_actor,
)
from brands.permissions import IsStaff, StaffActionPermission, StaffModelPermissions
from license_service.api.pagination import DefaultCursorPagination, paginated_response
from license_service.api.schema import error_responses
from licensing import services
from licensing.models import License
from licensing.selectors import (
    license_get_for_staff,
    license_key_get_for_staff,
    licenses_search_for_staff,
)
from licensing.serializers import (
    RenewInputSerializer,
    SeatsInputSerializer,
    StaffLicenseDetailOutputSerializer,
    StaffLicenseFilterSerializer,
    StaffLicenseKeyInputSerializer,
    StaffLicenseKeyOutputSerializer,
    StaffLicenseOutputSerializer,
)

LICENSE_ID_PARAMETER = OpenApiParameter("license_id", int, OpenApiParameter.PATH)
LICENSE_KEY_ID_PARAMETER = OpenApiParameter("license_key_id", int, OpenApiParameter.PATH)
_View = TypeVar("_View", bound=Callable[..., Response])
ACTION_ERRORS = (*WRITE_ERRORS, *STAFF_ERRORS, "not_found", "invalid_transition")


class StaffReadApi(APIView):
    """A staff read: the ``view_`` (or ``change_``) permission on ``queryset``'s model."""

    authentication_classes = [StaffJWTAuthentication]
    permission_classes = [IsStaff, StaffModelPermissions]


class StaffActionApi(APIView):
    """A staff action: the one permission of its console button (``staff_permission``)."""

    authentication_classes = [StaffJWTAuthentication]
    permission_classes = [IsStaff, StaffActionPermission]
    staff_permission = ""


def _license_body(license_id: int) -> Response:
    return Response(StaffLicenseDetailOutputSerializer(license_get_for_staff(license_id)).data)


class StaffLicenseListApi(StaffReadApi):
    queryset = License.objects.all()
    pagination_class = DefaultCursorPagination

    @extend_schema(
        tags=[STAFF_TAG],
        summary="Search licenses across brands",
        description="By customer e-mail (case-insensitive), key (typed loosely), brand slug, "
        "product slug and effective status; newest first. Needs `licensing.view_license`.",
        parameters=[StaffLicenseFilterSerializer],
        responses={
            200: StaffLicenseOutputSerializer(many=True),
            **error_responses("validation_error", *STAFF_ERRORS),
        },
    )
    def get(self, request: Request) -> Response:
        # A plain dict: DRF would treat "?status=" from a QueryDict as absent.
        filters = StaffLicenseFilterSerializer(data=request.query_params.dict())
        filters.is_valid(raise_exception=True)
        data = filters.validated_data
        queryset = licenses_search_for_staff(
            email=data.get("email"),
            key=data.get("key"),
            brand_slug=data.get("brand"),
            product_slug=data.get("product"),
            status=data.get("status"),
        )
        return paginated_response(
            queryset=queryset,
            serializer_class=StaffLicenseOutputSerializer,
            request=request,
            view=self,
        )


class StaffLicenseDetailApi(StaffReadApi):
    queryset = License.objects.all()

    @extend_schema(
        tags=[STAFF_TAG],
        summary="One license with its seats, brand and activations",
        parameters=[LICENSE_ID_PARAMETER],
        responses={
            200: StaffLicenseDetailOutputSerializer,
            **error_responses(*STAFF_ERRORS, "not_found"),
        },
    )
    def get(self, request: Request, license_id: str) -> Response:
        return _license_body(int(license_id))


class _TransitionApi(StaffActionApi):
    """suspend / resume / cancel: no body; 200 with the license as it now stands."""

    service: Any = None

    def post(self, request: Request, license_id: str) -> Response:
        license_ = license_get_for_staff(int(license_id))
        self.service(license_=license_, actor=staff_actor(request))
        return _license_body(license_.pk)


def _transition_schema(summary: str, permission: str) -> Callable[[_View], _View]:
    return extend_schema(
        tags=[STAFF_TAG],
        summary=summary,
        description=f"Needs `licensing.{permission}` (as the console's button).",
        parameters=[LICENSE_ID_PARAMETER],
        request=None,
        responses={
            200: StaffLicenseDetailOutputSerializer,
            **error_responses(*ACTION_ERRORS),
        },
    )


class StaffLicenseSuspendApi(_TransitionApi):
    staff_permission = "licensing.suspend_license"
    service = staticmethod(services.license_suspend)

    @_transition_schema("Suspend a license (valid/expired -> suspended)", "suspend_license")
    def post(self, request: Request, license_id: str) -> Response:
        return super().post(request, license_id)


class StaffLicenseResumeApi(_TransitionApi):
    staff_permission = "licensing.suspend_license"
    service = staticmethod(services.license_resume)

    @_transition_schema("Resume a suspended license", "suspend_license")
    def post(self, request: Request, license_id: str) -> Response:
        return super().post(request, license_id)


class StaffLicenseCancelApi(_TransitionApi):
    staff_permission = "licensing.cancel_license"
    service = staticmethod(services.license_cancel)

    @_transition_schema("Cancel a license (final; every activation is released)", "cancel_license")
    def post(self, request: Request, license_id: str) -> Response:
        return super().post(request, license_id)


class StaffLicenseRenewApi(StaffActionApi):
    staff_permission = "licensing.renew_license"

    @extend_schema(
        tags=[STAFF_TAG],
        summary="Renew a license to a date",
        description="Allowed unless cancelled; a suspended license stays suspended. Needs "
        "`licensing.renew_license`.",
        parameters=[LICENSE_ID_PARAMETER],
        request=RenewInputSerializer,
        responses={
            200: StaffLicenseDetailOutputSerializer,
            **error_responses(*ACTION_ERRORS),
        },
    )
    def post(self, request: Request, license_id: str) -> Response:
        license_ = license_get_for_staff(int(license_id))
        serializer = RenewInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.license_renew(
            license_=license_,
            expires_at=serializer.validated_data["expires_at"],
            actor=staff_actor(request),
        )
        return _license_body(license_.pk)


class StaffLicenseSeatsApi(StaffActionApi):
    staff_permission = "licensing.change_seats"

    @extend_schema(
        tags=[STAFF_TAG],
        summary="Change a license's seat limit",
        description="Needs `licensing.change_seats`.",
        parameters=[LICENSE_ID_PARAMETER],
        request=SeatsInputSerializer,
        responses={
            200: StaffLicenseDetailOutputSerializer,
            **error_responses(*ACTION_ERRORS),
        },
    )
    def post(self, request: Request, license_id: str) -> Response:
        license_ = license_get_for_staff(int(license_id))
        serializer = SeatsInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.license_set_seats(
            license_=license_,
            max_seats=serializer.validated_data["max_seats"],
            actor=staff_actor(request),
        )
        return _license_body(license_.pk)


class StaffLicenseKeyApi(StaffActionApi):
    staff_permission = "licensing.change_customer_email"

    @extend_schema(
        tags=[STAFF_TAG],
        summary="Correct a license key's customer e-mail",
        description="Every license on the key follows it. Refused (400, naming "
        "`customer_email`) when another key of the same brand has that e-mail. Needs "
        "`licensing.change_customer_email`.",
        parameters=[LICENSE_KEY_ID_PARAMETER],
        request=StaffLicenseKeyInputSerializer,
        responses={
            200: StaffLicenseKeyOutputSerializer,
            **error_responses(*WRITE_ERRORS, *STAFF_ERRORS, "not_found"),
        },
    )
    def patch(self, request: Request, license_key_id: str) -> Response:
        key = license_key_get_for_staff(int(license_key_id))
        serializer = StaffLicenseKeyInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        key = services.license_key_change_email(
            license_key=key,
            customer_email=serializer.validated_data["customer_email"],
            actor=staff_actor(request),
        )
        return Response(StaffLicenseKeyOutputSerializer(key).data)

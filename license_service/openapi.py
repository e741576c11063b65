"""OpenAPI document details that no single view owns (drf-spectacular).

- The three security schemes: ``BrandApiKey`` (``X-Brand-API-Key`` header), ``BrandJWT``
  (bearer token from ``/api/v1/auth/brand-token/``) and ``StaffJWT`` (bearer token from
  ``/api/v1/auth/token/``).
- ``add_uniform_errors``: the errors every endpoint of its kind can answer (SPEC §3: 400 for
  a body or parameters, 401/403 behind a credential, 404 for an unknown id in the path, 413
  and 415 for a body, 429 and 500/503 everywhere) are added to operations that do not document
  them already, so each view documents only its domain errors and the document still
  matches what the service does (it is fuzzed against the running service). 429 and 503
  answers document their ``Retry-After`` header, and the ``Error`` component states that
  all four envelope fields are always present.
- Path parameters carry the bounds their URL patterns enforce (``_bound_path_parameters``).
- OpenAPI links between operations (a created license's id feeds its reads and lifecycle,
  an activation's id feeds the seat release, ...), and PATCH bodies that must carry at
  least one field say so.

Imported by ``license_service.urls`` so the extensions are registered before the first
schema is generated.
"""

from __future__ import annotations

import re
from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension

from license_service.api.schema import STATUS_OF

_BEARER_JWT = {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}


class BrandApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "brands.authentication.BrandApiKeyAuthentication"
    name = "BrandApiKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "X-Brand-API-Key",
            "description": "A brand API key (`lsk_…`), created by staff and shown once.",
        }


class BrandJWTScheme(OpenApiAuthenticationExtension):
    target_class = "brands.authentication.BrandJWTAuthentication"
    name = "BrandJWT"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            **_BEARER_JWT,
            "description": "Short-lived brand JWT from `POST /api/v1/auth/brand-token/` "
            "(carries the brand and the scopes of the API key that minted it).",
        }


class StaffJWTScheme(OpenApiAuthenticationExtension):
    target_class = "rest_framework_simplejwt.authentication.JWTAuthentication"
    name = "StaffJWT"
    match_subclasses = True
    priority = 1  # over drf-spectacular's own simplejwt extension ("jwtAuth")

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {**_BEARER_JWT, "description": "Staff JWT from `POST /api/v1/auth/token/`."}


ERROR_COMPONENT = "Error"
_ERROR_SCHEMA = {
    "type": "object",
    "description": "The one error envelope (SPEC §3).",
    "properties": {
        "success": {"type": "boolean", "enum": [False]},
        "error": {"type": "string", "enum": sorted(STATUS_OF)},
        "message": {"type": "string"},
        "details": {"type": "object", "additionalProperties": {}},
    },
    "required": ["success", "error", "message", "details"],
}
_RETRY_AFTER = {
    "Retry-After": {
        "schema": {"type": "integer", "minimum": 1},
        "description": "Seconds to wait before retrying.",
    }
}
_DESCRIPTIONS = {
    "400": "validation_error",
    "401": "not_authenticated",
    "403": "permission_denied",
    "404": "not_found",
    "413": "payload_too_large",
    "415": "unsupported_media_type",
    "429": "throttled",
    "500": "server_error",
    "503": "service_unavailable",
}


def _error_response(status: str, ref: str) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": _DESCRIPTIONS[status],
        "content": {"application/json": {"schema": {"$ref": ref}}},
    }
    if status in ("429", "503"):
        response["headers"] = _RETRY_AFTER
    return response


def _uniform_statuses(path: str, operation: dict[str, Any]) -> list[str]:
    statuses = ["500", "503"]
    if not path.startswith("/api/"):
        return statuses  # probes: nothing to validate, no credential, never throttled
    statuses.append("429")
    params = operation.get("parameters", [])
    if "requestBody" in operation or params:
        statuses.append("400")
    if "requestBody" in operation:
        statuses += ["413", "415"]
    # An unknown object in the path, or a forged pagination cursor: 404.
    if any(p.get("in") == "path" or p.get("name") == "cursor" for p in params):
        statuses.append("404")
    if any(requirement for requirement in operation.get("security", [{}])):
        statuses += ["401", "403"]
    return statuses


# Links tell clients (and the fuzzer's stateful phase) which response value feeds which
# request; without them schemathesis guesses, and guesses wrong (a new product's slug is
# not an activatable license).
_LICENSE = "/api/v1/brand/licenses/{license_id}/"
_BODY = "$response.body#/"
_RELEASES = "/api/v1/brand/products/{slug}/releases/"
_RELEASE = _RELEASES + "{release_id}/"
_STAFF_LICENSE = "/api/v1/licenses/{license_id}/"
_STAFF_ACTIONS = ("suspend", "resume", "cancel", "renew", "seats")
# (source path, method, status) -> [(link name, target path, target method, parameters)]
_LINKS: dict[tuple[str, str, str], list[tuple[str, str, str, dict[str, str]]]] = {
    ("/api/v1/brand/licenses/", "post", "201"): [
        ("GetLicense", _LICENSE, "get", {"license_id": _BODY + "license_id"}),
        ("ChangeLicense", _LICENSE, "patch", {"license_id": _BODY + "license_id"}),
        ("LicenseEvents", _LICENSE + "events/", "get", {"license_id": _BODY + "license_id"}),
        (
            "CheckKey",
            "/api/v1/product/check/{license_key}/",
            "get",
            {"license_key": _BODY + "license_key"},
        ),
        (
            "LicensesOfCustomer",
            "/api/v1/brand/licenses/by-email/{email}/",
            "get",
            {"email": _BODY + "customer_email"},
        ),
        # The staff API's view of the same license (ids are global; staff see every brand).
        ("StaffGetLicense", _STAFF_LICENSE, "get", {"license_id": _BODY + "license_id"}),
        *(
            (
                f"Staff{action.title()}",
                f"{_STAFF_LICENSE}{action}/",
                "post",
                {"license_id": _BODY + "license_id"},
            )
            for action in _STAFF_ACTIONS
        ),
    ],
    (_STAFF_LICENSE, "get", "200"): [
        (
            "StaffCorrectEmail",
            "/api/v1/license-keys/{license_key_id}/",
            "patch",
            {"license_key_id": _BODY + "license_key_id"},
        ),
    ],
    ("/api/v1/product/activate/", "post", "200"): [
        (
            "ReleaseSeat",
            "/api/v1/brand/activations/{activation_id}/",
            "delete",
            {"activation_id": _BODY + "activation_id"},
        ),
        ("GetLicense", _LICENSE, "get", {"license_id": _BODY + "license_id"}),
        (
            "StaffReleaseSeat",
            _STAFF_LICENSE + "activations/{activation_id}/",
            "delete",
            {"license_id": _BODY + "license_id", "activation_id": _BODY + "activation_id"},
        ),
    ],
    ("/api/v1/brands/", "post", "201"): [
        ("GetBrand", "/api/v1/brands/{slug}/", "get", {"slug": _BODY + "slug"}),
        ("ChangeBrand", "/api/v1/brands/{slug}/", "patch", {"slug": _BODY + "slug"}),
        ("ListApiKeys", "/api/v1/brands/{slug}/api-keys/", "get", {"slug": _BODY + "slug"}),
        ("CreateApiKey", "/api/v1/brands/{slug}/api-keys/", "post", {"slug": _BODY + "slug"}),
    ],
    ("/api/v1/brands/{slug}/api-keys/", "post", "201"): [
        (
            "RevokeApiKey",
            "/api/v1/brands/{slug}/api-keys/{api_key_id}/",
            "delete",
            {"slug": "$request.path.slug", "api_key_id": _BODY + "id"},
        ),
    ],
    ("/api/v1/products/", "post", "201"): [
        ("GetProduct", "/api/v1/products/{product_id}/", "get", {"product_id": _BODY + "id"}),
        ("ChangeProduct", "/api/v1/products/{product_id}/", "patch", {"product_id": _BODY + "id"}),
        ("ProductReleases", _RELEASES, "get", {"slug": _BODY + "slug"}),
        ("UploadRelease", _RELEASES, "post", {"slug": _BODY + "slug"}),
    ],
    (_RELEASES, "post", "201"): [
        ("GetRelease", _RELEASE, "get", {"slug": "$request.path.slug", "release_id": _BODY + "id"}),
        (
            "ChangeRelease",
            _RELEASE,
            "patch",
            {"slug": "$request.path.slug", "release_id": _BODY + "id"},
        ),
    ],
}


def _add_links(result: dict[str, Any]) -> None:
    paths = result.get("paths", {})
    for (path, method, status), links in _LINKS.items():
        response = paths.get(path, {}).get(method, {}).get("responses", {}).get(status)
        if response is None:
            continue
        for name, target_path, target_method, parameters in links:
            target = paths.get(target_path, {}).get(target_method)
            if target is None or "operationId" not in target:
                continue
            declared = {p["name"] for p in target.get("parameters", []) if p.get("in") == "path"}
            if not set(parameters) <= declared:
                continue
            response.setdefault("links", {})[name] = {
                "operationId": target["operationId"],
                "parameters": parameters,
            }


def _patch_needs_a_field(result: dict[str, Any]) -> None:
    """A PATCH body whose fields are all optional still needs one of them: the service
    answers 400 "nothing to update" to ``{}``. Say so with an ``anyOf`` of one required
    field each. (PATCH bodies keep their serializers' required fields:
    COMPONENT_SPLIT_PATCH is off, since a lifecycle PATCH requires ``action``.)"""
    schemas = result.get("components", {}).get("schemas", {})
    for item in result.get("paths", {}).values():
        operation = item.get("patch")
        if not operation or "requestBody" not in operation:
            continue
        for media in operation["requestBody"].get("content", {}).values():
            ref = media.get("schema", {}).get("$ref", "")
            component = schemas.get(ref.rsplit("/", 1)[-1]) if ref else None
            if not component or component.get("required") or "anyOf" in component:
                continue
            fields = sorted(component.get("properties", {}))
            if fields:
                component["anyOf"] = [{"required": [field]} for field in fields]
                operation["requestBody"]["required"] = True


def _bodies_with_rules_are_required(result: dict[str, Any]) -> None:
    """A body whose schema requires fields, or is a ``oneOf`` (the lifecycle actions), cannot
    be left out: mark the request body itself required."""
    schemas = result.get("components", {}).get("schemas", {})
    for item in result.get("paths", {}).values():
        for operation in item.values():
            if not isinstance(operation, dict) or "requestBody" not in operation:
                continue
            for media in operation["requestBody"].get("content", {}).values():
                ref = media.get("schema", {}).get("$ref", "")
                component = schemas.get(ref.rsplit("/", 1)[-1]) if ref else None
                if component and (component.get("required") or "oneOf" in component):
                    operation["requestBody"]["required"] = True


# A bounded group of a URL pattern: (?P<name>[class]{min,max}).
_BOUNDED_GROUP = re.compile(
    r"\(\?P<(?P<name>\w+)>(?P<cls>\[[^\]]+\])\{(?P<min>\d+),(?P<max>\d+)\}\)"
)


def _bound_path_parameters(result: dict[str, Any], generator: Any) -> None:
    """Document each path parameter's bounds as its URL pattern enforces them (a value the
    pattern refuses is a 404 before any view runs): ``maxLength`` and the pattern for a
    string, ``minimum``/``maximum`` for an id of at most N digits. A parameter a view
    declares itself (``OpenApiParameter``) otherwise loses what drf-spectacular would infer
    from the pattern, and a fuzzer may then build URLs longer than any server accepts."""
    paths = result.get("paths", {})
    for path, path_regex, method, _callback in getattr(generator, "endpoints", None) or []:
        operation = paths.get(path, {}).get(method.lower())
        if not operation:
            continue
        bounds = {m["name"]: m for m in _BOUNDED_GROUP.finditer(path_regex)}
        for parameter in operation.get("parameters", []):
            found = bounds.get(parameter["name"]) if parameter.get("in") == "path" else None
            if found is None:
                continue
            schema = parameter.setdefault("schema", {"type": "string"})
            low, high = int(found["min"]), int(found["max"])
            if schema.get("type") == "integer" and found["cls"] == "[0-9]":
                schema.setdefault("minimum", 0)
                schema.setdefault("maximum", 10**high - 1)
            elif schema.get("type") == "string":
                schema.setdefault("minLength", low)
                schema.setdefault("maxLength", high)
                if "format" not in schema and "pattern" not in schema:
                    schema["pattern"] = f"^{found['cls']}{{{low},{high}}}$"


def add_uniform_errors(result: dict[str, Any], generator: Any, **kwargs: Any) -> dict[str, Any]:
    """drf-spectacular postprocessing hook (see the module docstring)."""
    _bound_path_parameters(result, generator)
    _add_links(result)
    _patch_needs_a_field(result)
    _bodies_with_rules_are_required(result)
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    # Stricter than the serializer-derived component: all four fields are always present.
    schemas[ERROR_COMPONENT] = _ERROR_SCHEMA
    ref = f"#/components/schemas/{ERROR_COMPONENT}"
    for path, item in result.get("paths", {}).items():
        for method, operation in item.items():
            if method not in {"get", "put", "post", "patch", "delete"}:
                continue
            responses = operation.setdefault("responses", {})
            for status in _uniform_statuses(path, operation):
                responses.setdefault(status, _error_response(status, ref))
            for status in ("429", "503"):
                if status in responses:
                    responses[status].setdefault("headers", {}).update(_RETRY_AFTER)
    return result

"""GET /api/schema/ (OpenAPI 3) and /api/docs/ (Swagger UI, no CDN)."""

from __future__ import annotations

import re
import runpy
from pathlib import Path
from typing import Any

import drf_spectacular
import pytest
from django.urls import resolve
from drf_spectacular.validation import validate_schema
from rest_framework.test import APIClient

from license_service.api import spectacular_internals

METHODS = ("get", "post", "put", "patch", "delete")


@pytest.fixture(scope="module")
def schema(django_db_blocker: Any) -> dict[str, Any]:
    with django_db_blocker.unblock():
        response = APIClient().get("/api/schema/")
    assert response.status_code == 200
    return response.json()


def operations(schema: dict[str, Any]):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield path, method, operation


def test_schema_is_valid_openapi_3(schema):
    assert schema["openapi"].startswith("3.")
    validate_schema(schema)


def test_three_security_schemes(schema):
    schemes = schema["components"]["securitySchemes"]
    assert schemes["BrandApiKey"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-Brand-API-Key",
        "description": schemes["BrandApiKey"]["description"],
    }
    assert schemes["BrandJWT"]["scheme"] == "bearer"
    assert schemes["BrandJWT"]["bearerFormat"] == "JWT"
    assert schemes["StaffJWT"]["scheme"] == "bearer"


def test_brand_endpoints_accept_the_api_key_or_the_brand_jwt(schema):
    brand_ops = [op for path, _, op in operations(schema) if path.startswith("/api/v1/brand/")]
    assert brand_ops
    for operation in brand_ops:
        assert operation["security"] == [{"BrandApiKey": []}, {"BrandJWT": []}]


def test_staff_endpoints_need_the_staff_jwt(schema):
    staff_paths = ("/api/v1/brands/", "/api/v1/products/")
    staff_ops = [op for path, _, op in operations(schema) if path.startswith(staff_paths)]
    assert staff_ops
    for operation in staff_ops:
        assert operation["security"] == [{"StaffJWT": []}]


def test_product_endpoints_are_public(schema):
    product_ops = [op for path, _, op in operations(schema) if "/product/" in path]
    assert product_ops
    for operation in product_ops:
        assert not any(operation.get("security", []))


def test_every_operation_documents_its_success_and_error_bodies(schema):
    for path, method, operation in operations(schema):
        responses = operation["responses"]
        successes = [code for code in responses if code.startswith("2")]
        assert successes, f"{method} {path}: no success response"
        for code in successes:
            if code != "204":
                assert "content" in responses[code], f"{method} {path} {code}: no body"
        errors = {code: r for code, r in responses.items() if code[0] in "45"}
        for status in ("500", "503"):
            assert status in errors, f"{method} {path}: {status} missing"
        for code, response in errors.items():
            ref = response["content"]["application/json"]["schema"]["$ref"]
            assert ref.endswith("/Error"), f"{method} {path} {code}: not the error envelope"
        if "requestBody" in operation:
            assert "400" in errors, f"{method} {path}"
            assert "413" in errors, f"{method} {path}"
            assert "415" in errors, f"{method} {path}"
            assert "content" in operation["requestBody"]
        if any(operation.get("security", [])):
            assert "401" in errors, f"{method} {path}"
            assert "403" in errors, f"{method} {path}"


def test_rate_limited_answers_document_retry_after(schema):
    for path, method, operation in operations(schema):
        if path.startswith("/api/"):
            throttled = operation["responses"]["429"]
            assert "Retry-After" in throttled.get("headers", {}), f"{method} {path}"


def test_the_error_envelope_lists_every_error_code(schema):
    error = schema["components"]["schemas"]["Error"]
    assert set(error["required"]) >= {"success", "error", "message", "details"}


def test_spec_endpoints_are_all_documented(schema):
    paths = set(schema["paths"])
    for expected in (
        "/api/v1/product/activate/",
        "/api/v1/product/deactivate/",
        "/api/v1/product/check/",
        "/api/v1/product/check/{license_key}/",
        "/api/v1/brand/licenses/",
        "/api/v1/brand/licenses/{license_id}/",
        "/api/v1/brand/licenses/{license_id}/events/",
        "/api/v1/brand/licenses/by-email/{email}/",
        "/api/v1/brands/",
        "/api/v1/products/",
        "/api/v1/licenses/",
        "/api/v1/licenses/{license_id}/",
        "/api/v1/licenses/{license_id}/suspend/",
        "/api/v1/licenses/{license_id}/resume/",
        "/api/v1/licenses/{license_id}/cancel/",
        "/api/v1/licenses/{license_id}/renew/",
        "/api/v1/licenses/{license_id}/seats/",
        "/api/v1/licenses/{license_id}/activations/{activation_id}/",
        "/api/v1/license-keys/{license_key_id}/",
        "/api/v1/auth/token/",
        "/api/v1/auth/brand-token/",
        "/healthz",
        "/readyz",
    ):
        assert expected in paths, expected


def test_docs_page_uses_bundled_assets_only(api_client):
    response = api_client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger-ui" in html
    assert "/api/schema/" in html
    external = re.findall(r"""(?:src|href)=["'](https?://[^"']+)""", html)
    assert external == []
    assert "drf_spectacular_sidecar" in html


# --- request-line budget -------------------------------------------------------------------

# Bytes one character can take in a URL: a 4-byte UTF-8 character, percent-encoded.
_WORST_BYTES_PER_CHAR = 12
_ASCII_CLASS = re.compile(r"^\^\[[\w\\-]+\]\{\d+,(\d+)\}\$$")


def longest_value(name: str, schema: dict[str, Any]) -> int:
    """The most bytes a value within ``schema``'s documented bounds takes in a URL."""
    if "enum" in schema:
        return max(len(str(value)) for value in schema["enum"]) * 3
    kind = schema.get("type")
    if kind == "integer":
        assert "maximum" in schema, f"{name}: unbounded integer"
        assert "minimum" in schema, f"{name}: unbounded integer"
        return max(len(str(schema["maximum"])), len(str(schema["minimum"])))
    if kind == "boolean":
        return len("false")
    assert kind == "string", f"{name}: {schema}"
    assert "maxLength" in schema, f"{name}: a string without maxLength"
    ascii_only = _ASCII_CLASS.match(schema.get("pattern", ""))
    return schema["maxLength"] * (3 if ascii_only else _WORST_BYTES_PER_CHAR)


def longest_request_line(path: str, method: str, operation: dict[str, Any]) -> int:
    size = len(f"{method.upper()} ") + len(path) + len(" HTTP/1.1")
    for parameter in operation.get("parameters", []):
        value = longest_value(parameter["name"], parameter["schema"])
        if parameter["in"] == "path":
            size += value - len("{" + parameter["name"] + "}")
        elif parameter["in"] == "query":
            size += len(parameter["name"]) + 2 + value  # "?name=value" or "&name=value"
    return size


def test_every_documented_request_fits_the_servers_request_line_limit(schema, monkeypatch):
    """A request whose every parameter is within its documented bounds (maxLength, enum,
    minimum/maximum) fits gunicorn's limit_request_line (nginx's is a little larger), even
    with every character a 4-byte one, percent-encoded. Past the bounds the service answers
    400; a longer request line than a server takes would get that server's own answer
    (gunicorn: an HTML 414)."""
    for key in ("GUNICORN_LIMIT_REQUEST_LINE", "PROMETHEUS_MULTIPROC_DIR"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", "/tmp/openapi-test-prometheus")  # noqa: S108 (nothing is written there: no server starts)
    limit = runpy.run_path(str(Path(__file__).resolve().parents[2] / "gunicorn.conf.py"))[
        "limit_request_line"
    ]
    sizes = {
        f"{method.upper()} {path}": longest_request_line(path, method, operation)
        for path, method, operation in operations(schema)
    }
    too_long = {line: size for line, size in sizes.items() if size > limit}
    assert too_long == {}
    assert sizes["GET /api/v1/brand/licenses/"] > limit // 2  # the budget is really spent


@pytest.mark.parametrize(
    ("path", "parameter"),
    [
        ("/api/v1/brands/{slug}/", "slug"),
        ("/api/v1/brand/licenses/by-email/{email}/", "email"),
        ("/api/v1/products/{product_id}/", "product_id"),
        ("/api/v1/brand/activations/{activation_id}/", "activation_id"),
    ],
)
def test_a_path_parameter_documents_the_bounds_its_url_pattern_enforces(schema, path, parameter):
    operation = next(op for p, _, op in operations(schema) if p == path)
    (declared,) = [p["schema"] for p in operation["parameters"] if p["name"] == parameter]
    if declared["type"] == "integer":
        longest, too_long = str(declared["maximum"]), str(declared["maximum"] + 1)
    else:
        longest, too_long = "a" * declared["maxLength"], "a" * (declared["maxLength"] + 1)
    # One past the bound falls through to the URL map's catch-all: the JSON 404.
    assert resolve(path.replace("{" + parameter + "}", longest)).url_name != "not-found"
    assert resolve(path.replace("{" + parameter + "}", too_long)).url_name == "not-found"


def test_drf_spectacular_is_the_version_its_internals_were_checked_against():
    """license_service/api/spectacular_internals.py reaches past drf-spectacular's public API
    in two places: an upgrade must re-check them (its docstring says how) before this pin
    moves."""
    assert drf_spectacular.__version__ == spectacular_internals.WRITTEN_FOR


def test_the_delete_of_activate_documents_its_json_body(schema):
    """What spectacular_internals.BodyOnDeleteSchema exists for."""
    body = schema["paths"]["/api/v1/product/activate/"]["delete"]["requestBody"]
    assert "application/json" in body["content"]


def test_a_patch_body_documents_the_fields_it_refuses(schema):
    """What spectacular_internals.map_basic_serializer serves: UpdateSerializerSchema's
    ``not`` clause on PATCH bodies with fixed fields."""
    refusing = [
        component
        for component in schema["components"]["schemas"].values()
        if "not" in component and "anyOf" in component["not"]
    ]
    assert refusing
    assert all(
        all(set(rule) == {"required"} for rule in component["not"]["anyOf"])
        for component in refusing
    )


def test_a_provisioned_license_links_to_its_staff_actions(schema):
    """The stateful fuzzer reaches the staff license actions from a new license's id."""
    provisioned = schema["paths"]["/api/v1/brand/licenses/"]["post"]["responses"]["201"]
    links = provisioned["links"]
    for name in ("StaffGetLicense", "StaffSuspend", "StaffRenew", "StaffSeats", "StaffCancel"):
        assert links[name]["parameters"] == {"license_id": "$response.body#/license_id"}
    detail = schema["paths"]["/api/v1/licenses/{license_id}/"]["get"]["responses"]["200"]
    assert detail["links"]["StaffCorrectEmail"]["parameters"] == {
        "license_key_id": "$response.body#/license_key_id"
    }

"""GET /api/schema/ (OpenAPI 3) and /api/docs/ (Swagger UI, no CDN)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from drf_spectacular.validation import validate_schema

METHODS = ("get", "post", "put", "patch", "delete")


@pytest.fixture(scope="module")
def schema(django_db_blocker: Any) -> dict[str, Any]:
    from rest_framework.test import APIClient

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

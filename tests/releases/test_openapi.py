"""The releases endpoints in the OpenAPI document."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

COLLECTION = "/api/v1/brand/products/{slug}/releases/"
DETAIL = "/api/v1/brand/products/{slug}/releases/{release_id}/"


@pytest.fixture(scope="module")
def schema(django_db_blocker: Any) -> dict[str, Any]:
    with django_db_blocker.unblock():
        response = APIClient().get("/api/schema/")
    assert response.status_code == 200
    return response.json()


def test_the_upload_is_a_multipart_body_with_a_binary_package(schema):
    operation = schema["paths"][COLLECTION]["post"]
    assert list(operation["requestBody"]["content"]) == ["multipart/form-data"]
    assert {"201", "400", "401", "403", "404", "413"} <= set(operation["responses"])
    ref = operation["requestBody"]["content"]["multipart/form-data"]["schema"]["$ref"]
    component = schema["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert component["properties"]["package"]["format"] == "binary"
    assert {"package", "version"} <= set(component["required"])


def test_list_read_and_patch_are_documented(schema):
    assert "get" in schema["paths"][COLLECTION]
    assert {"get", "patch"} <= set(schema["paths"][DETAIL])
    assert "409" in schema["paths"][DETAIL]["patch"]["responses"]

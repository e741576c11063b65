"""One contract: the answers the product API serves have the shape its OpenAPI document
gives them (``CheckOutputSerializer`` and the activate/deactivate output serializers), and
the check's hand-written input cleaning (``check_params``, the hot path) accepts and refuses
what its documented serializers accept and refuse, with the same cleaned values."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework import serializers

from activations.serializers import (
    ActivateOutputSerializer,
    CheckInputSerializer,
    CheckOutputSerializer,
    CheckQuerySerializer,
    DeactivateOutputSerializer,
    check_params,
)
from license_service.errors import ValidationFailed
from tests.activations.conftest import activate, deactivate

pytestmark = pytest.mark.django_db


def documented(serializer_class: type[serializers.Serializer], answer: dict[str, Any]) -> None:
    """``answer`` is valid for the serializer and carries no field it does not document."""
    serializer = serializer_class(data=answer)
    assert serializer.is_valid(), serializer.errors
    fields = serializer_class().fields
    assert set(answer) <= set(fields), set(answer) - set(fields)
    for name, field in fields.items():
        if isinstance(field, serializers.ListSerializer):
            child = field.child
            assert isinstance(child, serializers.Serializer)
            for item in answer[name]:
                assert set(item) <= set(child.fields), set(item) - set(child.fields)
                required = {n for n, f in child.fields.items() if f.required}
                assert required <= set(item)


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"product_slug": "rankmath-pro"},
        {"instance_identifier": "example.com"},
        {"product_slug": "rankmath-pro", "instance_identifier": "example.com"},
    ],
    ids=["plain", "product", "instance", "product-and-instance"],
)
def test_served_check_answers_match_the_documented_shape(client, key, params) -> None:
    assert activate(client, key, "example.com").status_code == 200
    for _ in range(3):  # a miss, then cached answers (near hits with Redis)
        get = client.get(f"/api/v1/product/check/{key}", params)
        assert get.status_code == 200
        documented(CheckOutputSerializer, get.json())
        post = client.post("/api/v1/product/check", {"license_key": key, **params}, format="json")
        assert post.status_code == 200
        assert post.json() == get.json()
        entitlements = get.json()["entitlements"]
        assert all(
            ("instance_active" in e) == ("instance_identifier" in params) for e in entitlements
        )


def test_served_activate_and_deactivate_answers_match_the_documented_shape(client, key) -> None:
    activated = activate(client, key, "example.com")
    assert activated.status_code == 200
    documented(ActivateOutputSerializer, activated.json())
    released = deactivate(client, key, "example.com")
    assert released.status_code == 200
    documented(DeactivateOutputSerializer, released.json())


# --- input: check_params and the serializers are one contract ------------------------------

_texts = st.one_of(
    st.none(),
    st.integers(),
    st.text(max_size=60),
    st.text(alphabet="abc-é .\x00\u200b\t/:", max_size=20),
    st.sampled_from(["rankmath-pro", " rankmath-pro ", "", "   ", "https://www.Example.com/a?q=1"]),
    st.text(min_size=250, max_size=300, alphabet="a"),
)


def _payload(draw_values: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in draw_values.items() if value is not None}


def _by_serializer(
    serializer_class: type[serializers.Serializer], data: dict[str, Any]
) -> tuple[Any, ...] | None:
    serializer = serializer_class(data=data)
    if not serializer.is_valid():
        return None
    cleaned = serializer.validated_data
    return tuple(
        cleaned.get(name) for name in ("license_key", "product_slug", "instance_identifier")
    )


def _by_check_params(data: dict[str, Any], *, with_key: bool) -> tuple[Any, ...] | None:
    try:
        return check_params(data, with_key=with_key)
    except ValidationFailed:
        return None


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(key=_texts, product=_texts, instance=_texts)
def test_check_params_accepts_and_refuses_what_the_body_serializer_does(
    key: Any, product: Any, instance: Any
) -> None:
    data = _payload({"license_key": key, "product_slug": product, "instance_identifier": instance})
    assert _by_check_params(data, with_key=True) == _by_serializer(CheckInputSerializer, data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(product=_texts, instance=_texts)
def test_check_params_accepts_and_refuses_what_the_query_serializer_does(
    product: Any, instance: Any
) -> None:
    data = _payload({"product_slug": product, "instance_identifier": instance})
    by_serializer = _by_serializer(CheckQuerySerializer, data)
    expected = None if by_serializer is None else (None, *by_serializer[1:])
    assert _by_check_params(data, with_key=False) == expected

"""A product's EDD item id (SPEC §11): set by staff (API and admin), unique per brand."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction
from django.urls import reverse

from audit.models import AuditEvent
from audit.services import Actor
from brands.errors import DuplicateField
from brands.models import Product
from brands.services import product_create, product_update
from tests.brands.envelope import assert_error
from tests.factories import ProductFactory

pytestmark = pytest.mark.django_db


def create(staff_client, **fields):
    body = {"brand": "rankmath", "name": "Content AI", "slug": "content-ai", **fields}
    return staff_client.post("/api/v1/products/", body, format="json")


def test_staff_creates_a_product_with_an_edd_item_id(staff_client, brand):
    response = create(staff_client, edd_item_id=1234)
    assert response.status_code == 201
    assert response.json()["edd_item_id"] == 1234
    assert Product.objects.get(slug="content-ai").edd_item_id == 1234
    assert (AuditEvent.objects.get(action="product.created").after or {})["edd_item_id"] == 1234


def test_a_product_has_no_edd_item_id_by_default(staff_client, brand):
    assert create(staff_client).json()["edd_item_id"] is None


@pytest.mark.parametrize("value", [0, -1, 2**31, "12", 1.5, True, [], {}])
def test_bad_edd_item_id_is_a_validation_error_naming_it(staff_client, brand, value):
    body = assert_error(create(staff_client, edd_item_id=value), 400, "validation_error")
    assert list(body["details"]) == ["edd_item_id"]


def test_duplicate_edd_item_id_in_a_brand_is_a_validation_error(staff_client, product):
    Product.objects.filter(pk=product.pk).update(edd_item_id=7)
    body = assert_error(create(staff_client, edd_item_id=7), 400, "validation_error")
    assert list(body["details"]) == ["edd_item_id"]
    response = staff_client.patch(
        f"/api/v1/products/{ProductFactory.create(brand=product.brand).id}/",
        {"edd_item_id": 7},
        format="json",
    )
    assert list(assert_error(response, 400, "validation_error")["details"]) == ["edd_item_id"]


def test_same_edd_item_id_in_another_brand_is_fine(staff_client, product, other_product):
    Product.objects.filter(pk=other_product.pk).update(edd_item_id=7)
    assert create(staff_client, edd_item_id=7).status_code == 201


def test_staff_sets_and_clears_the_edd_item_id(staff_client, product):
    url = f"/api/v1/products/{product.id}/"
    response = staff_client.patch(url, {"edd_item_id": 99}, format="json")
    assert response.status_code == 200
    assert response.json()["edd_item_id"] == 99
    event = AuditEvent.objects.get(action="product.updated")
    assert ((event.before or {})["edd_item_id"], (event.after or {})["edd_item_id"]) == (None, 99)
    # Setting it again to the value it has is no conflict with itself.
    assert staff_client.patch(url, {"edd_item_id": 99}, format="json").status_code == 200
    assert (
        staff_client.patch(url, {"edd_item_id": None}, format="json").json()["edd_item_id"] is None
    )


def test_the_database_refuses_a_duplicate_too(product):
    Product.objects.filter(pk=product.pk).update(edd_item_id=5)
    with pytest.raises(IntegrityError), transaction.atomic():
        ProductFactory.create(brand=product.brand, edd_item_id=5)


def test_many_products_of_a_brand_may_have_none(brand):
    ProductFactory.create_batch(3, brand=brand, edd_item_id=None)
    assert Product.objects.filter(brand=brand, edd_item_id=None).count() == 3


def test_services_refuse_a_duplicate(product):
    product_update(product=product, actor=Actor.staff("ops"), edd_item_id=3)
    with pytest.raises(DuplicateField):
        product_create(
            brand=product.brand,
            name="Other",
            slug="other",
            default_max_seats=None,
            edd_item_id=3,
            actor=Actor.staff("ops"),
        )


def test_admin_sets_the_edd_item_id_through_the_service(admin_client, product):
    response = admin_client.post(
        reverse("admin:brands_product_change", args=[product.id]),
        {
            "name": product.name,
            "default_max_seats": 3,
            "non_production_limit": 10,
            "edd_item_id": 321,
        },
    )
    assert response.status_code == 302, response.content
    product.refresh_from_db()
    assert product.edd_item_id == 321
    assert (AuditEvent.objects.get(action="product.updated").after or {})["edd_item_id"] == 321


def test_admin_shows_a_duplicate_as_a_form_error(admin_client, product):
    ProductFactory.create(brand=product.brand, edd_item_id=8)
    response = admin_client.post(
        reverse("admin:brands_product_change", args=[product.id]),
        {
            "name": product.name,
            "default_max_seats": 3,
            "non_production_limit": 10,
            "edd_item_id": 8,
        },
    )
    assert response.status_code == 200
    assert "Another product of this brand has this EDD item id." in response.content.decode()
    product.refresh_from_db()
    assert product.edd_item_id is None

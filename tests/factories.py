"""factory-boy factories for every model."""

from __future__ import annotations

from typing import Any

import factory
from django.contrib.auth import get_user_model

from activations.models import Activation
from brands.models import Brand, Product
from licensing.keys import generate_license_key
from licensing.models import License, LicenseKey


class BrandFactory(factory.django.DjangoModelFactory[Brand]):
    class Meta:
        model = Brand

    name = factory.Sequence(lambda n: f"Brand {n}")
    slug = factory.Sequence(lambda n: f"brand-{n}")
    key_prefix = factory.Sequence(
        lambda n: "B" + "".join(chr(ord("A") + int(d)) for d in f"{n:03d}")
    )


class ProductFactory(factory.django.DjangoModelFactory[Product]):
    class Meta:
        model = Product

    brand = factory.SubFactory(BrandFactory)
    name = factory.Sequence(lambda n: f"Product {n}")
    slug = factory.Sequence(lambda n: f"product-{n}")
    default_max_seats = 3


class LicenseKeyFactory(factory.django.DjangoModelFactory[LicenseKey]):
    class Meta:
        model = LicenseKey

    brand = factory.SubFactory(BrandFactory)
    key = factory.LazyAttribute(lambda o: generate_license_key(o.brand.key_prefix))
    customer_email = factory.Sequence(lambda n: f"customer{n}@example.com")


class LicenseFactory(factory.django.DjangoModelFactory[License]):
    class Meta:
        model = License

    product = factory.SubFactory(ProductFactory)
    license_key = factory.SubFactory(
        LicenseKeyFactory, brand=factory.SelfAttribute("..product.brand")
    )
    status = License.Status.VALID
    expires_at = None
    max_seats = 3


class ActivationFactory(factory.django.DjangoModelFactory[Activation]):
    class Meta:
        model = Activation

    license = factory.SubFactory(LicenseFactory)
    instance_identifier = factory.Sequence(lambda n: f"site{n}.example.com")


class StaffUserFactory(factory.django.DjangoModelFactory[Any]):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"staff{n}")
    is_staff = True
    is_superuser = True
    password = factory.django.Password("staff-password")

"""factory-boy factories for every model."""

from __future__ import annotations

from typing import Any

import factory
from django.contrib.auth import get_user_model

from activations.models import Activation
from brands.models import Brand, BrandSigningKey, Product
from brands.signing import encrypt_private_key, new_key_pair
from licensing.keys import generate_license_key
from licensing.models import License, LicenseKey
from webhooks.models import WebhookEndpoint
from webhooks.services import generate_secret


class BrandFactory(factory.django.DjangoModelFactory[Brand]):
    class Meta:
        model = Brand
        skip_postgeneration_save = True  # the hook writes its own row

    name = factory.Sequence(lambda n: f"Brand {n}")
    slug = factory.Sequence(lambda n: f"brand-{n}")
    key_prefix = factory.Sequence(
        lambda n: "B" + "".join(chr(ord("A") + int(d)) for d in f"{n:03d}")
    )

    @factory.post_generation  # type: ignore[untyped-decorator]
    def signing_key(obj: Brand, create: bool, extracted: Any, **kwargs: Any) -> None:
        """A current signing key, as a brand has once it signed a token (a factory writes
        rows without audit, as for every model); ``signing_key=False``: none yet."""
        if create and extracted is not False:
            signing_key_create(obj)


def signing_key_create(brand: Brand, **fields: Any) -> BrandSigningKey:
    """A signing key row for ``brand`` (current unless ``retired_at`` is given)."""
    pair = new_key_pair()
    return BrandSigningKey.objects.create(
        brand=brand,
        kid=pair.kid,
        public_key=pair.public_key,
        private_key_encrypted=encrypt_private_key(
            pair.private_raw, brand_id=brand.pk, kid=pair.kid
        ),
        **fields,
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


class WebhookEndpointFactory(factory.django.DjangoModelFactory[WebhookEndpoint]):
    """An endpoint row without the URL checks (tests point it where they need)."""

    class Meta:
        model = WebhookEndpoint

    brand = factory.SubFactory(BrandFactory)
    url = "https://hooks.example.com/license-events"
    events: Any = factory.LazyFunction(list)
    secret = factory.LazyFunction(generate_secret)

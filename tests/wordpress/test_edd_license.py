"""SPEC §11: /edd/<brand>/ license actions, as EDD Software Licensing answers them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from unittest import mock
from urllib.parse import urlencode

import jwt
import pytest
from django.db import OperationalError
from django.utils import timezone

from activations.models import Activation
from audit.models import AuditEvent
from audit.services import Actor
from brands.services import brand_update, product_update
from licensing.models import License
from tests.factories import (
    ActivationFactory,
    LicenseFactory,
    LicenseKeyFactory,
    ProductFactory,
)
from tests.ops.test_metrics import sample
from tests.wordpress.conftest import ITEM_ID, SITE, answer, committed, edd

pytestmark = pytest.mark.django_db


# --- activate_license -----------------------------------------------------------------------


def test_activation_takes_a_seat_and_answers_as_edd(client, key, license_):
    response = edd(client, "activate_license", license=key, item_name="RankMath Pro", url=SITE)
    assert response.status_code == 200
    body = answer(response)
    checksum = body.pop("checksum")
    assert len(checksum) == 32
    token = body.pop("license_token")  # SPEC §12: an extra field EDD clients ignore
    assert jwt.get_unverified_header(token)["typ"] == "license+jwt"
    assert body == {
        "success": True,
        "license": "valid",
        "item_id": ITEM_ID,
        "item_name": "RankMath Pro",
        "license_limit": 3,
        "site_count": 1,
        "activations_left": 2,
        "expires": "lifetime",
        "customer_name": "",
        "customer_email": "u***@example.com",
        "payment_id": 0,
        "price_id": False,
        "is_local": False,
    }
    activation = Activation.objects.get(license=license_)
    assert activation.instance_identifier == "example.com"
    assert AuditEvent.objects.get(action="activation.created").actor == "product"


def test_the_same_request_gets_the_same_checksum(client, key, license_):
    first = answer(edd(client, "check_license", license=key, item_id=ITEM_ID, url=SITE))
    again = answer(edd(client, "check_license", license=key, item_id=ITEM_ID, url=SITE))
    other = answer(edd(client, "check_license", license=key, item_id=ITEM_ID, url="b.example"))
    assert first["checksum"] == again["checksum"] != other["checksum"]


def test_activation_by_item_id_as_get_query_without_trailing_slash(client, key, license_):
    response = edd(
        client,
        "activate_license",
        method="get",
        slash=False,
        license=key,
        item_id=ITEM_ID,
        url=SITE,
    )
    body = answer(response)
    assert (body["success"], body["license"], body["item_id"]) == (True, "valid", ITEM_ID)
    assert body["item_name"] == "RankMath Pro"  # the product's, when the request has none


def test_activating_the_same_site_again_takes_no_second_seat(client, key, license_):
    edd(client, "activate_license", license=key, item_id=ITEM_ID, url=SITE)
    body = answer(edd(client, "activate_license", license=key, item_id=ITEM_ID, url="example.com/"))
    assert (body["license"], body["site_count"]) == ("valid", 1)
    assert Activation.objects.filter(license=license_).count() == 1


@pytest.mark.parametrize(
    "item_name",
    [
        "RankMath Pro",  # double-encoded on the wire: RankMath%2520Pro
        "rankmath pro",  # case-insensitive
        "rankmath-pro",  # the slug
        "RankMath+Pro",  # PHP's urlencode before the form encoding
    ],
)
def test_item_name_matches_the_products_name_or_slug(client, key, license_, item_name):
    body = answer(edd(client, "activate_license", license=key, item_name=item_name, url=SITE))
    assert body["license"] == "valid"


def test_item_name_sent_through_phps_urlencode_is_echoed_with_spaces(client, key, license_):
    # The sample plugin sends urlencode("RankMath Pro") = "RankMath+Pro"; EDD's server
    # urldecode()s it and answers "RankMath Pro" (found by tests/wordpress/e2e).
    response = client.post(
        "/edd/rankmath/",
        urlencode(
            {
                "edd_action": "activate_license",
                "license": key,
                "item_name": "RankMath+Pro",
                "url": SITE,
            }
        ),
        content_type="application/x-www-form-urlencoded",
    )
    body = answer(response)
    assert body["license"] == "valid"
    assert body["item_name"] == "RankMath Pro"


def test_item_name_encoded_once_matches_too(client, key, license_):
    response = client.post(
        "/edd/rankmath/",
        {
            "edd_action": "activate_license",
            "license": key,
            "item_name": "RankMath Pro",
            "url": SITE,
        },
    )
    assert answer(response)["license"] == "valid"


@pytest.mark.parametrize("item_id", ["0", "", "abc", "-3"])
def test_an_item_id_that_is_no_id_counts_as_missing(client, key, license_, item_id):
    body = answer(
        edd(
            client,
            "activate_license",
            license=key,
            item_id=item_id,
            item_name="RankMath Pro",
            url=SITE,
        )
    )
    assert body["license"] == "valid"


def test_unknown_item_name_is_item_name_mismatch(client, key, license_):
    body = answer(edd(client, "activate_license", license=key, item_name="Other Plugin", url=SITE))
    assert (body["success"], body["license"], body["error"]) == (
        False,
        "invalid",
        "item_name_mismatch",
    )
    assert not Activation.objects.exists()


def test_unknown_item_id_is_invalid_item_id(client, key, license_):
    body = answer(edd(client, "activate_license", license=key, item_id=7, url=SITE))
    assert (body["success"], body["error"]) == (False, "invalid_item_id")


def test_neither_item_id_nor_name_is_item_name_mismatch(client, key, license_):
    body = answer(
        edd(client, "activate_license", license=key, item_id="0", item_name="0", url=SITE)
    )
    assert body["error"] == "item_name_mismatch"


def test_product_of_the_brand_the_key_does_not_carry_is_a_mismatch(client, key, license_, brand):
    ProductFactory.create(brand=brand, name="Content AI", slug="content-ai", edd_item_id=77)
    assert answer(edd(client, "activate_license", license=key, item_id=77, url=SITE))["error"] == (
        "invalid_item_id"
    )
    assert (
        answer(edd(client, "activate_license", license=key, item_name="Content AI", url=SITE))[
            "error"
        ]
        == "item_name_mismatch"
    )


@pytest.mark.parametrize(
    "license_key", ["", "RNKM-NOT-A-KEY", "RNKM-0000-0000-0000-0000-0000-0000", "x" * 5000]
)
def test_unknown_key_is_missing(client, license_, license_key):
    body = answer(edd(client, "activate_license", license=license_key, item_id=ITEM_ID, url=SITE))
    assert (body["success"], body["license"], body["error"]) == (False, "invalid", "missing")


def test_expired_license_is_refused_as_expired(client, key, license_):
    license_.expires_at = datetime(2020, 1, 2, 3, 4, 5, tzinfo=UTC)
    license_.save()
    body = answer(edd(client, "activate_license", license=key, item_id=ITEM_ID, url=SITE))
    assert (body["success"], body["license"], body["error"]) == (False, "invalid", "expired")
    assert body["expires"] == "2020-01-02 03:04:05"
    assert not Activation.objects.exists()


@pytest.mark.parametrize("status", [License.Status.SUSPENDED, License.Status.CANCELLED])
def test_suspended_or_cancelled_license_is_disabled(client, key, license_, status):
    license_.status = status
    license_.save()
    body = answer(edd(client, "activate_license", license=key, item_id=ITEM_ID, url=SITE))
    assert (body["success"], body["error"]) == (False, "disabled")
    check = answer(edd(client, "check_license", license=key, item_id=ITEM_ID, url=SITE))
    assert (check["success"], check["license"]) == (True, "disabled")


def test_full_license_answers_no_activations_left(client, key, license_):
    license_.max_seats = 1
    license_.save()
    edd(client, "activate_license", license=key, item_id=ITEM_ID, url="one.example.com")
    body = answer(
        edd(client, "activate_license", license=key, item_id=ITEM_ID, url="two.example.com")
    )
    assert (body["success"], body["license"], body["error"]) == (
        False,
        "invalid",
        "no_activations_left",
    )
    assert (body["license_limit"], body["site_count"], body["activations_left"]) == (1, 1, 0)


def test_unlimited_license_says_unlimited(client, key, license_):
    license_.max_seats = None
    license_.save()
    body = answer(edd(client, "activate_license", license=key, item_id=ITEM_ID, url=SITE))
    assert (body["license_limit"], body["activations_left"]) == (0, "unlimited")


def test_expiry_is_sent_as_edd_formats_it(client, key, license_):
    license_.expires_at = timezone.now().replace(microsecond=0) + timedelta(days=30)
    license_.save()
    body = answer(edd(client, "activate_license", license=key, item_id=ITEM_ID, url=SITE))
    assert body["expires"] == license_.expires_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


# --- the site: url, the User-Agent, staging ---------------------------------------------------


def test_missing_url_is_read_from_wordpress_user_agent(client, key, license_):
    body = answer(
        edd(
            client,
            "activate_license",
            license=key,
            item_id=ITEM_ID,
            user_agent="WordPress/6.5.2; https://WWW.Example.com/",
        )
    )
    assert body["license"] == "valid"
    assert Activation.objects.get().instance_identifier == "example.com"


def test_empty_url_falls_back_to_the_user_agent_too(client, key, license_):
    edd(
        client,
        "activate_license",
        license=key,
        item_id=ITEM_ID,
        url="",
        user_agent="WordPress/6.5; https://shop.example.org",
    )
    assert Activation.objects.get().instance_identifier == "shop.example.org"


@pytest.mark.parametrize("user_agent", [None, "curl/8.0", "WordPress/6.5", "WordPress/6.5;  "])
def test_no_site_at_all_is_missing_url(client, key, license_, user_agent):
    body = answer(
        edd(client, "activate_license", license=key, item_id=ITEM_ID, user_agent=user_agent)
    )
    assert (body["success"], body["error"]) == (False, "missing_url")
    assert not Activation.objects.exists()
    check = answer(
        edd(client, "check_license", license=key, item_id=ITEM_ID, user_agent=user_agent)
    )
    assert (check["success"], check["license"]) == (True, "site_inactive")


def test_staging_site_is_local_and_takes_no_seat(client, key, license_):
    body = answer(
        edd(
            client,
            "activate_license",
            license=key,
            item_id=ITEM_ID,
            url="https://staging.example.com",
            environment="staging",
        )
    )
    assert (body["license"], body["is_local"], body["site_count"]) == ("valid", True, 0)
    activation = Activation.objects.get()
    assert (activation.environment, activation.environment_claim) == ("staging", "staging")
    check = answer(
        edd(
            client, "check_license", license=key, item_id=ITEM_ID, url="https://staging.example.com"
        )
    )
    assert (check["license"], check["is_local"], check["site_count"]) == ("valid", True, 0)


def test_brand_pattern_makes_a_site_local(client, key, license_, brand):
    with committed():
        brand_update(
            brand=brand, actor=Actor.staff("ops"), non_production_patterns=["*.preview.example.net"]
        )
    body = answer(
        edd(
            client,
            "check_license",
            license=key,
            item_id=ITEM_ID,
            url="https://a.preview.example.net",
        )
    )
    assert (body["license"], body["is_local"]) == ("site_inactive", True)


def test_an_unknown_environment_claim_is_not_recorded(client, key, license_):
    edd(client, "activate_license", license=key, item_id=ITEM_ID, url=SITE, environment="weird")
    assert Activation.objects.get().environment_claim == ""


# --- check_license --------------------------------------------------------------------------


def test_check_of_an_active_site_is_valid(client, key, license_):
    edd(client, "activate_license", license=key, item_id=ITEM_ID, url=SITE)
    body = answer(edd(client, "check_license", license=key, item_name="RankMath Pro", url=SITE))
    body.pop("checksum")
    claims = jwt.decode(body.pop("license_token"), options={"verify_signature": False})
    assert (claims["instance"], claims["status"]) == ("example.com", "valid")
    assert body == {
        "success": True,
        "license": "valid",
        "item_id": ITEM_ID,
        "item_name": "RankMath Pro",
        "license_limit": 3,
        "site_count": 1,
        "activations_left": 2,
        "expires": "lifetime",
        "customer_name": "",
        "customer_email": "u***@example.com",
        "payment_id": 0,
        "price_id": False,
        "is_local": False,
    }


@pytest.mark.parametrize("site", ["http://example.com", "https://WWW.EXAMPLE.COM/", "example.com"])
def test_check_matches_the_site_however_its_url_is_written(client, key, license_, site):
    edd(client, "activate_license", license=key, item_id=ITEM_ID, url=SITE)
    assert answer(edd(client, "check_license", license=key, item_id=ITEM_ID, url=site))[
        "license"
    ] == ("valid")


def test_check_of_a_site_without_a_seat_is_site_inactive(client, key, license_):
    edd(client, "activate_license", license=key, item_id=ITEM_ID, url=SITE)
    body = answer(
        edd(client, "check_license", license=key, item_id=ITEM_ID, url="other.example.com")
    )
    assert (body["success"], body["license"]) == (True, "site_inactive")


def test_check_of_an_expired_license_is_expired(client, key, license_):
    ActivationFactory.create(license=license_, instance_identifier="example.com")
    license_.expires_at = timezone.now() - timedelta(days=1)
    license_.save()
    body = answer(edd(client, "check_license", license=key, item_id=ITEM_ID, url=SITE))
    assert (body["success"], body["license"]) == (True, "expired")


def test_check_of_an_unknown_key_is_the_only_unsuccessful_check(client, license_):
    body = answer(edd(client, "check_license", license="RNKM-NOPE", item_id=ITEM_ID, url=SITE))
    assert body == {"success": False, "license": "invalid", "error": "missing"}


def test_check_of_another_product_is_a_successful_mismatch(client, key, license_):
    by_name = answer(edd(client, "check_license", license=key, item_name="Nope", url=SITE))
    assert (by_name["success"], by_name["license"]) == (True, "item_name_mismatch")
    by_id = answer(edd(client, "check_license", license=key, item_id=9, url=SITE))
    assert (by_id["success"], by_id["license"]) == (True, "invalid_item_id")


def test_cached_check_costs_no_sql(client, key, license_, django_assert_num_queries):
    edd(client, "activate_license", license=key, item_id=ITEM_ID, url=SITE)
    edd(client, "check_license", license=key, item_id=ITEM_ID, url=SITE)  # fills the cache
    for _ in range(3):
        with django_assert_num_queries(0):
            body = answer(edd(client, "check_license", license=key, item_id=ITEM_ID, url=SITE))
        assert body["license"] == "valid"


def test_cached_check_sees_a_renamed_product(client, key, license_, edd_product):
    edd(client, "activate_license", license=key, item_id=ITEM_ID, url=SITE)
    edd(client, "check_license", license=key, item_name="RankMath Pro", url=SITE)  # cached
    with committed():
        product_update(
            product=edd_product, actor=Actor.staff("ops"), name="RankMath Ultra", edd_item_id=43
        )
    assert (
        answer(edd(client, "check_license", license=key, item_name="RankMath Ultra", url=SITE))[
            "license"
        ]
        == "valid"
    )
    assert (
        answer(edd(client, "check_license", license=key, item_id=43, url=SITE))["license"]
        == "valid"
    )


# --- deactivate_license ---------------------------------------------------------------------


def test_deactivation_frees_the_seat(client, key, license_):
    edd(client, "activate_license", license=key, item_id=ITEM_ID, url=SITE)
    body = answer(edd(client, "deactivate_license", license=key, item_id=ITEM_ID, url=SITE))
    assert (body["success"], body["license"], body["site_count"]) == (True, "deactivated", 0)
    assert not Activation.objects.exists()
    assert AuditEvent.objects.filter(action="activation.released").count() == 1
    check = answer(edd(client, "check_license", license=key, item_id=ITEM_ID, url=SITE))
    assert check["license"] == "site_inactive"


def test_deactivating_a_site_without_a_seat_is_deactivated(client, key, license_):
    body = answer(edd(client, "deactivate_license", license=key, item_id=ITEM_ID, url=SITE))
    assert (body["success"], body["license"]) == (True, "deactivated")


def test_deactivation_is_allowed_on_a_suspended_license(client, key, license_):
    ActivationFactory.create(license=license_, instance_identifier="example.com")
    License.objects.filter(pk=license_.pk).update(status=License.Status.SUSPENDED)
    body = answer(edd(client, "deactivate_license", license=key, item_id=ITEM_ID, url=SITE))
    assert body["license"] == "deactivated"
    assert not Activation.objects.exists()


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"license": "RNKM-NOPE", "item_id": ITEM_ID, "url": SITE}, "missing"),
        ({"item_name": "Nope", "url": SITE}, "item_name_mismatch"),
        ({"item_id": 5, "url": SITE}, "invalid_item_id"),
        ({"item_id": ITEM_ID}, "missing_url"),
    ],
)
def test_refused_deactivation_is_failed(client, key, license_, params, error):
    body = answer(edd(client, "deactivate_license", **{"license": key, **params}))
    assert (body["success"], body["license"], body["error"]) == (False, "failed", error)


# --- the endpoint: brands, actions, encodings, bad input --------------------------------------


@pytest.mark.parametrize("action", ["activate_license", "deactivate_license", "check_license"])
def test_unknown_brand_is_invalid_json(client, key, license_, action):
    response = edd(client, action, brand="no-such-brand", license=key, item_id=ITEM_ID, url=SITE)
    assert response.status_code == 200
    body = answer(response)
    assert (body["success"], body["error"]) == (False, "missing")
    assert not Activation.objects.exists()


def test_key_of_another_brand_is_unknown_here(client, license_, other_product):
    other = LicenseFactory.create(product=other_product)
    body = answer(
        edd(
            client,
            "activate_license",
            license=other.license_key.key,
            item_name="WP Rocket",
            url=SITE,
        )
    )
    assert body["error"] == "missing"
    body = answer(
        edd(
            client,
            "activate_license",
            brand="wp-rocket",
            license=other.license_key.key,
            item_name="WP Rocket",
            url=SITE,
        )
    )
    assert body["license"] == "valid"


@pytest.mark.parametrize("action", ["", "nope", "activate_license\x00", "get_versions"])
def test_unknown_action_gets_an_invalid_answer(client, key, license_, action):
    response = edd(client, action, license=key, item_id=ITEM_ID, url=SITE)
    assert response.status_code == 200
    assert answer(response) == {"success": False, "license": "invalid", "error": "invalid_action"}


def test_a_json_body_is_tolerated(client, key, license_):
    payload = {"edd_action": "activate_license", "license": key, "item_id": ITEM_ID, "url": SITE}
    response = client.post("/edd/rankmath/", json.dumps(payload), content_type="application/json")
    assert answer(response)["license"] == "valid"


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ("[1, 2]", "application/json"),
        ("{not json", "application/json"),
        ('{"edd_action": ["check_license"], "license": {"a": 1}}', "application/json"),
        ("[" * 5000 + "]" * 5000, "application/json"),
        (
            b"edd_action=check_license&license=\xff\xfe&url=\x00",
            "application/x-www-form-urlencoded",
        ),
        ("edd_action=check_license&item_name=%ZZ%25&url=%00", "application/x-www-form-urlencoded"),
        ("\x00\x01garbage", "text/plain"),
        ("--x\r\nbroken multipart", "multipart/form-data; boundary=x"),
    ],
)
def test_garbage_is_answered_with_json_never_a_500(client, license_, body, content_type):
    response = client.post("/edd/rankmath/", body, content_type=content_type)
    assert response.status_code == 200
    assert answer(response)["success"] is False


@pytest.mark.parametrize(
    "params",
    [
        {"edd_action": "check_license", "license": "x", "url": "http://[::1"},
        {"edd_action": "activate_license", "license": "x", "url": "a" * 3000},
        {"edd_action": "check_license", "item_id": "9" * 40},
        {"edd_action": "activate_license", "item_name": "%" * 100},
    ],
)
def test_garbage_query_is_answered_with_json(client, license_, params):
    response = client.get(f"/edd/rankmath?{urlencode(params)}")
    assert response.status_code == 200
    assert answer(response)["success"] is False


def test_garbage_site_of_a_real_key_is_missing_url(client, key, license_):
    body = answer(edd(client, "activate_license", license=key, item_id=ITEM_ID, url="http://[::1"))
    assert body["error"] == "missing_url"


def test_other_methods_get_json(client):
    response = client.put("/edd/rankmath/")
    assert response.status_code == 405
    assert answer(response)["success"] is False


def test_throttled_client_gets_429_with_retry_after(client, key, license_, settings):
    settings.LICENSE_SERVICE = {**settings.LICENSE_SERVICE, "THROTTLE_PRODUCT_IP": "2/m"}
    for _ in range(2):
        edd(client, "check_license", license=key, item_id=ITEM_ID, url=SITE)
    for action in ("check_license", "activate_license", "deactivate_license"):
        response = edd(client, action, license=key, item_id=ITEM_ID, url=SITE)
        assert response.status_code == 429
        assert int(response["Retry-After"]) >= 1
        assert answer(response) == {"success": False, "license": "failed", "error": "throttled"}


def test_unknown_keys_spend_the_brute_force_budget(client, license_, settings):
    settings.LICENSE_SERVICE = {**settings.LICENSE_SERVICE, "THROTTLE_UNKNOWN_KEY_IP": "2/h"}
    for n in range(2):
        body = answer(edd(client, "check_license", license=f"RNKM-GUESS-{n}", item_id=ITEM_ID))
        assert body["error"] == "missing"
    response = edd(client, "activate_license", license="RNKM-GUESS-9", item_id=ITEM_ID, url=SITE)
    assert response.status_code == 429


# --- one domain, two protocols ----------------------------------------------------------------


def test_activation_through_edd_is_seen_by_the_product_api(client, key, license_):
    edd(client, "activate_license", license=key, item_id=ITEM_ID, url=SITE)
    response = client.get(
        f"/api/v1/product/check/{key}?product_slug=rankmath-pro&instance_identifier=example.com"
    )
    entitlement = response.json()["entitlements"][0]
    assert (entitlement["instance_active"], entitlement["seats_used"]) == (True, 1)


def test_activation_through_the_product_api_is_seen_by_edd(client, key, license_):
    with committed():
        response = client.post(
            "/api/v1/product/activate",
            {"license_key": key, "product_slug": "rankmath-pro", "instance_identifier": SITE},
            content_type="application/json",
        )
    assert response.status_code == 200
    edd(client, "check_license", license=key, item_id=ITEM_ID, url="other.example.com")  # cached
    body = answer(edd(client, "check_license", license=key, item_id=ITEM_ID, url=SITE))
    assert (body["license"], body["site_count"]) == ("valid", 1)
    with committed():
        client.post(
            "/api/v1/product/deactivate",
            {"license_key": key, "product_slug": "rankmath-pro", "instance_identifier": SITE},
            content_type="application/json",
        )
    body = answer(edd(client, "check_license", license=key, item_id=ITEM_ID, url=SITE))
    assert (body["license"], body["site_count"]) == ("site_inactive", 0)


def test_key_with_two_products_answers_for_the_one_named(client, key, license_, brand):
    other = ProductFactory.create(brand=brand, name="Content AI", slug="content-ai", edd_item_id=77)
    LicenseFactory.create(product=other, license_key=license_.license_key, max_seats=None)
    body = answer(edd(client, "activate_license", license=key, item_id=77, url=SITE))
    assert (body["item_id"], body["item_name"], body["license_limit"]) == (77, "Content AI", 0)
    assert Activation.objects.get().license.product == other
    check = answer(edd(client, "check_license", license=key, item_id=ITEM_ID, url=SITE))
    assert check["license"] == "site_inactive"  # the site holds a seat of the other product


def test_a_key_of_this_brand_from_another_brands_url_is_unknown(client, key, license_, other_brand):
    body = answer(
        edd(client, "check_license", brand="wp-rocket", license=key, item_id=ITEM_ID, url=SITE)
    )
    assert body == {"success": False, "license": "invalid", "error": "missing"}


def test_license_key_lookup_is_case_insensitive(client, key, license_):
    body = answer(
        edd(client, "activate_license", license=f"  {key.lower()} ", item_id=ITEM_ID, url=SITE)
    )
    assert body["license"] == "valid"


def test_unused_key_has_no_seats(client, license_):
    key = LicenseKeyFactory.create(brand=license_.product.brand)  # a key without a license
    body = answer(edd(client, "check_license", license=key.key, item_id=ITEM_ID, url=SITE))
    assert (body["success"], body["license"]) == (True, "invalid_item_id")


def test_oversize_body_is_413_json(client, license_):
    body = urlencode({"edd_action": "check_license", "license": "x", "pad": "a" * 70_000})
    response = client.post("/edd/rankmath/", body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 413
    assert answer(response)["error"] == "payload_too_large"


def test_database_down_is_503_with_retry_after(client, key, license_):
    with mock.patch(
        "activations.check.facts._check_data_query", side_effect=OperationalError("down")
    ):
        response = edd(client, "check_license", license=key, item_id=ITEM_ID, url=SITE)
    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    assert answer(response) == {
        "success": False,
        "license": "failed",
        "error": "service_unavailable",
    }


def test_outcomes_are_counted_with_the_product_apis(client, key, license_):
    def counts() -> tuple[float, ...]:
        text = client.get("/metrics").content.decode()
        return (
            sample(text, "license_activation_total", outcome="activated"),
            sample(text, "license_activation_total", outcome="license_not_found"),
            sample(text, "license_check_total", outcome="found"),
            sample(text, "license_deactivation_total", outcome="released"),
        )

    before = counts()
    edd(client, "activate_license", license=key, item_id=ITEM_ID, url=SITE)
    edd(client, "activate_license", license=key, item_id=999, url=SITE)
    edd(client, "check_license", license=key, item_id=ITEM_ID, url=SITE)
    edd(client, "deactivate_license", license=key, item_id=ITEM_ID, url=SITE)
    assert counts() == tuple(value + 1 for value in before)


def test_a_form_with_too_many_fields_is_answered_as_empty_with_json(
    client, key, license_, settings
):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 5
    body = f"edd_action=check_license&license={key}&url={SITE}&" + "&".join(
        f"f{n}=1" for n in range(10)
    )
    response = client.post("/edd/rankmath/", body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200
    assert answer(response) == {"success": False, "license": "invalid", "error": "invalid_action"}


def test_a_form_declaring_another_charset_is_read_as_utf8_as_php_reads_it(client, key, license_):
    body = f"edd_action=check_license&license={key}&item_id={ITEM_ID}&url={SITE}"
    response = client.post(
        "/edd/rankmath/", body, content_type="application/x-www-form-urlencoded; charset=latin-1"
    )
    assert response.status_code == 200
    assert answer(response)["license"] in {"valid", "site_inactive"}


def test_the_last_of_a_repeated_form_field_wins_and_the_body_overrides_the_query(
    client, key, license_
):
    body = f"edd_action=activate_license&license=nope&license={key}&item_id={ITEM_ID}&url={SITE}"
    response = client.post(
        "/edd/rankmath/?edd_action=deactivate_license&license=other",
        body,
        content_type="application/x-www-form-urlencoded",
    )
    assert answer(response)["license"] == "valid"  # activated, with the body's last key

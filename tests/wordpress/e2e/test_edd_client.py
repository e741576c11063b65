"""SPEC §11 end to end: a real WordPress (Debian's 6.1, PHP 8.2) whose plugin talks to this
service as EDD's sample plugin and an EDD update client talk to an EDD store: activate,
check, update check, "View details", package download and upgrade, deactivate. Every
request goes through WordPress's own HTTP API to the service running on loopback;
assertions are on the JSON the service answered, on what WordPress stored, and on the
service's own record of the license (brand API).

The update client is EDD's unmodified ``EDD_SL_Plugin_Updater`` when its file is there,
else the test's own protocol client (client/README.md says what each proves): the update
check, "View details" and upgrade run with either, and each test says which one ran.

Select them with ``-m wordpress_e2e``; conftest.py says what they need.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.wordpress.e2e.conftest import (
    BETA_VERSION,
    ITEM_ID,
    NEW_VERSION,
    NEW_VERSION_MARKER,
    OLD_VERSION,
    PLUGIN,
    PLUGIN_SLUG,
    PRODUCT_NAME,
    UPDATER,
    Licensed,
    Site,
)

pytestmark = pytest.mark.wordpress_e2e

SITE_INSTANCE = "e2e-customer-site.com"  # the site's home_url(), as the service keeps it
CHECKSUM = re.compile(r"^[0-9a-f]{32}$")


def license_call(licensed: Licensed, action: str) -> tuple[dict[str, Any], Any]:
    """One of the sample plugin's calls: the service's answer (asserted to be HTTP 200
    JSON, as EDD answers), and the license status the plugin stored."""
    done = licensed.site.step("license", {"action": action})
    answer = done["answer"]
    if "error" in answer:
        licensed.site.fail(f"{action}: WordPress could not reach the store: {answer['error']}")
    if answer["code"] != 200 or not str(answer["content_type"]).startswith("application/json"):
        licensed.site.fail(f"{action}: not an HTTP 200 JSON answer: {answer}")
    return answer["body"], done["status"]


def assert_license_fields(body: dict[str, Any], *, site_count: int) -> None:
    assert body["item_id"] == ITEM_ID
    assert body["item_name"] == PRODUCT_NAME
    assert body["license_limit"] == 2
    assert body["site_count"] == site_count
    assert body["activations_left"] == 2 - site_count
    assert body["expires"] == "lifetime"
    assert body["is_local"] is False
    assert CHECKSUM.match(body["checksum"])
    assert "@" in body["customer_email"]
    assert "*" in body["customer_email"]  # masked (§6)


def activations(licensed: Licensed) -> list[str]:
    lic = licensed.site.store.license(licensed.license_id)
    return [a["instance_identifier"] for a in lic["activations"]]


# --- the sample plugin's calls --------------------------------------------------------------


def test_activate_license_takes_a_seat_for_the_site_and_the_plugin_stores_valid(licensed):
    body, stored = license_call(licensed, "activate_license")

    assert body["success"] is True, body
    assert body["license"] == "valid"
    assert_license_fields(body, site_count=1)
    assert stored == "valid"
    assert activations(licensed) == [SITE_INSTANCE]


def test_activating_the_same_site_again_takes_no_second_seat(licensed):
    license_call(licensed, "activate_license")
    body, stored = license_call(licensed, "activate_license")

    assert body["license"] == "valid"
    assert body["site_count"] == 1
    assert stored == "valid"
    assert activations(licensed) == [SITE_INSTANCE]


def test_check_license_answers_valid_for_the_activated_site(licensed):
    license_call(licensed, "activate_license")

    body, stored = license_call(licensed, "check_license")

    assert body["success"] is True, body
    assert body["license"] == "valid"
    assert_license_fields(body, site_count=1)
    assert stored == "valid"


def test_check_license_before_activation_says_the_site_is_inactive(licensed):
    body, stored = license_call(licensed, "check_license")

    assert body["license"] == "site_inactive", body
    assert body["site_count"] == 0
    assert stored == body["license"]


def test_deactivate_license_frees_the_seat_and_the_plugin_forgets_its_status(licensed):
    license_call(licensed, "activate_license")

    body, stored = license_call(licensed, "deactivate_license")

    assert body["success"] is True, body
    assert body["license"] == "deactivated"
    assert_license_fields(body, site_count=0)
    assert stored is None  # the plugin deleted its status, as the sample plugin does
    assert activations(licensed) == []
    checked, _ = license_call(licensed, "check_license")
    assert checked["license"] == "site_inactive"


def test_a_key_the_store_does_not_know_is_invalid_and_stored_so(licensed):
    licensed.site.step(
        "configure",
        {"store_url": licensed.site.store.edd_url, "license": "WPEE-NOT-A-REAL-KEY"},
    )

    body, stored = license_call(licensed, "activate_license")

    assert body["success"] is False
    assert body["license"] == "invalid"
    assert body["error"] == "missing"
    assert stored == "invalid"


# --- the update client: update check, "View details", upgrade -------------------------------


def update_offer(licensed: Licensed) -> Any:
    """wp_update_plugins() as the cron job runs it; what it stored for the plugin (None:
    no update in ``response``)."""
    done = licensed.site.step("update_check")
    assert done["updater"] == UPDATER.class_name, done  # the client the rig bundled ran
    assert done["checked"] is not None, done
    assert done["checked"].get(PLUGIN) == OLD_VERSION, done
    return done["response"]


def test_the_update_check_stores_the_new_version_and_its_package_for_wordpress(licensed):
    license_call(licensed, "activate_license")

    offer = update_offer(licensed)

    assert offer is not None, "the updater put no update in the update_plugins transient"
    assert offer["new_version"] == NEW_VERSION
    assert offer["slug"] == PLUGIN_SLUG
    assert offer["plugin"] == PLUGIN
    assert isinstance(offer["url"], str)  # always sent: PHP warns on a missing one
    package = offer["package"]
    assert package.startswith(licensed.site.store.base + "/api/v1/product/downloads/"), offer
    assert offer["requires"] == "6.0"
    assert offer["requires_php"] == "7.4"
    assert offer["tested"] == "6.1"
    assert isinstance(offer["banners"], dict | list)
    assert isinstance(offer["icons"], dict | list)


def test_view_details_shows_the_release_sections(licensed):
    license_call(licensed, "activate_license")

    done = licensed.site.step("plugin_information", {"slug": PLUGIN_SLUG})

    assert done["updater"] == UPDATER.class_name, done
    assert "error" not in done, done
    info = done["info"]
    assert info["new_version"] == NEW_VERSION
    assert info["name"] == PRODUCT_NAME
    assert info["slug"] == PLUGIN_SLUG
    assert set(info["sections"]) >= {"description", "changelog"}
    assert f"<h4>{NEW_VERSION}</h4>" in info["sections"]["changelog"]
    assert "The new version's change." in info["sections"]["changelog"]
    assert info["download_link"].startswith(licensed.site.store.base + "/api/v1/product/"), info
    assert isinstance(info["banners"], dict | list)
    assert isinstance(info["icons"], dict | list)


def test_plugin_upgrader_downloads_the_package_and_installs_the_new_version(licensed):
    license_call(licensed, "activate_license")
    offer = update_offer(licensed)
    assert offer is not None
    assert offer["package"], offer

    done = licensed.site.step("upgrade")

    assert done["upgraded"] is True, done
    assert done["version"] == NEW_VERSION
    assert done["active"] is True
    plugin_dir: Site = licensed.site
    assert (plugin_dir.plugin_dir / NEW_VERSION_MARKER).read_text() == f"{NEW_VERSION}\n"
    # The package brought the update client along, as a plugin's release does.
    assert (plugin_dir.plugin_dir / UPDATER.filename).read_bytes() == UPDATER.source.read_bytes()
    # The site still holds its seat after the upgrade: the same license, the same site.
    assert activations(licensed) == [SITE_INSTANCE]
    # The upgraded plugin, its client from the package, finds nothing newer.
    again = licensed.site.step("update_check")
    assert again["checked"].get(PLUGIN) == NEW_VERSION, again
    assert again["response"] is None, again


def test_a_deactivated_site_is_offered_the_update_with_no_package_and_told_why(licensed):
    license_call(licensed, "activate_license")
    license_call(licensed, "deactivate_license")

    offer = update_offer(licensed)

    assert offer is not None, "the update is offered, its package is not"
    assert offer["new_version"] == NEW_VERSION
    assert offer["package"] == ""
    assert "no active seat" in offer["msg"], offer


def test_a_suspended_license_is_offered_the_update_with_no_package_and_told_why(licensed):
    license_call(licensed, "activate_license")
    licensed.site.store.license_action(licensed.license_id, "suspend")

    offer = update_offer(licensed)

    assert offer is not None
    assert offer["new_version"] == NEW_VERSION
    assert offer["package"] == ""
    assert "suspended" in offer["msg"], offer


def test_a_site_that_asks_for_betas_is_offered_the_published_beta(licensed):
    licensed.site.step(
        "configure",
        {"store_url": licensed.site.store.edd_url, "license": licensed.key, "beta": True},
    )
    license_call(licensed, "activate_license")

    offer = update_offer(licensed)

    assert offer is not None
    assert offer["new_version"] == BETA_VERSION
    assert offer["package"].startswith(licensed.site.store.base + "/api/v1/product/downloads/")

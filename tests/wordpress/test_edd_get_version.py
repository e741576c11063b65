"""SPEC §11: get_version, as EDD_SL_Plugin_Updater asks for it (answered from the check cache
and the brand's catalogue)."""

from __future__ import annotations

import shutil
import subprocess
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from activations.check.keys import check_cache_forget_on_commit
from activations.models import Activation
from audit.services import Actor
from licensing.models import License
from releases.catalog import catalog_forget_on_commit
from releases.services import release_publish, release_update, release_yank
from tests.factories import BrandFactory, LicenseFactory, LicenseKeyFactory, ProductFactory
from tests.releases.conftest import create_release, releases_root  # noqa: F401 (autouse)
from tests.wordpress.conftest import ITEM_ID, SITE, answer, committed, edd
from wordpress.protocol import php_serialize

pytestmark = pytest.mark.django_db

STAFF = Actor.staff("ops")
DAY = timedelta(days=1)

FIELDS = {
    "new_version",
    "stable_version",
    "name",
    "slug",
    "url",
    "homepage",
    "last_updated",
    "requires",
    "requires_php",
    "tested",
    "package",
    "download_link",
    "sections",
    "banners",
    "icons",
    "msg",
}


def get_version(client: Any, key: str, **params: Any) -> dict[str, Any]:
    params.setdefault("item_id", ITEM_ID)
    params.setdefault("url", SITE)
    params.setdefault("slug", "rankmath-pro")
    params.setdefault("version", "1.0.0")
    return answer(edd(client, "get_version", license=key, **params))


@pytest.fixture
def activated(client, key, license_):
    edd(client, "activate_license", license=key, item_id=ITEM_ID, url=SITE)
    return license_


@pytest.fixture
def releases(edd_product):
    """Releases published (by hand, so their catalogue is forgotten as a publish does)."""
    now = timezone.now()
    made = {
        "1.1.0": create_release(edd_product, "1.1.0", published_at=now - 3 * DAY),
        "1.2.0": create_release(edd_product, "1.2.0", published_at=now - DAY),
        "2.0.0-beta.1": create_release(
            edd_product, "2.0.0-beta.1", channel="beta", published_at=now - DAY / 2
        ),
        "9.0.0": create_release(edd_product, "9.0.0"),  # a draft
    }
    with committed():
        catalog_forget_on_commit(edd_product.brand.slug)
    return made


def test_an_active_site_gets_the_newest_stable_release_and_its_package(
    client, key, activated, releases
):
    body = get_version(client, key)
    assert set(body) >= FIELDS
    assert (body["new_version"], body["stable_version"]) == ("1.2.0", "1.2.0")
    assert body["name"] == "RankMath Pro"
    assert body["slug"] == "rankmath-pro"
    assert body["package"] == body["download_link"]
    assert body["package"].startswith("http://testserver/api/v1/product/downloads/")
    assert body["msg"] == ""
    assert body["banners"] == "a:0:{}"
    assert body["sections"].startswith('a:2:{s:11:"description";')
    assert len(body["last_updated"]) == len("2026-01-01 00:00:00")


def test_the_package_url_downloads_the_release(client, key, activated, releases):
    body = get_version(client, key)
    response = client.get(body["package"])
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == releases["1.2.0"].package.open("rb").read()


def test_beta_includes_the_beta_channel(client, key, activated, releases):
    body = get_version(client, key, beta="1")
    assert (body["new_version"], body["stable_version"]) == ("2.0.0-beta.1", "1.2.0")
    assert get_version(client, key, beta="0")["new_version"] == "1.2.0"


def test_a_site_without_a_seat_gets_no_package_and_a_message(client, key, license_, releases):
    body = get_version(client, key)
    assert body["new_version"] == "1.2.0"
    assert (body["package"], body["download_link"]) == ("", "")
    assert "no active seat" in body["msg"]


def test_an_expired_license_gets_the_newest_release_published_before_it_expired(
    client, key, activated, releases
):
    expired_at = timezone.now() - 2 * DAY
    License.objects.filter(pk=activated.pk).update(expires_at=expired_at)
    with committed():
        check_cache_forget_on_commit(key)
    body = get_version(client, key)
    assert body["new_version"] == "1.1.0"
    assert body["package"] != ""
    assert "expired" in body["msg"]
    assert client.get(body["package"]).status_code == 200


def test_a_suspended_license_gets_no_package(client, key, activated, releases):
    License.objects.filter(pk=activated.pk).update(status=License.Status.SUSPENDED)
    with committed():
        check_cache_forget_on_commit(key)
    body = get_version(client, key)
    assert (body["new_version"], body["package"]) == ("1.2.0", "")
    assert "suspended" in body["msg"]


def test_a_publish_is_seen_at_once(client, key, activated, releases, edd_product):
    assert get_version(client, key)["new_version"] == "1.2.0"  # cached
    fresh = create_release(edd_product, "1.3.0")
    with committed():
        release_publish(release=fresh, actor=STAFF)
    assert get_version(client, key)["new_version"] == "1.3.0"


def test_a_yank_is_seen_at_once(client, key, activated, releases):
    assert get_version(client, key)["new_version"] == "1.2.0"
    with committed():
        release_yank(release=releases["1.2.0"], actor=STAFF)
    assert get_version(client, key)["new_version"] == "1.1.0"


def test_edited_notes_are_seen_at_once(client, key, activated, releases):
    get_version(client, key)
    with committed():
        release_update(release=releases["1.2.0"], actor=STAFF, changelog="* Fixed **it**")
    sections = get_version(client, key)["sections"]
    assert "<strong>it</strong>" in sections


def test_changelog_html_is_escaped(client, key, activated, releases):
    with committed():
        release_update(
            release=releases["1.2.0"],
            actor=STAFF,
            changelog="<script>alert(1)</script> [x](javascript:alert(1))",
        )
    sections = get_version(client, key)["sections"]
    assert "<script>" not in sections
    assert "&lt;script&gt;" in sections
    assert "javascript:" not in sections.replace("[x](javascript:alert(1))", "")


def test_the_changelog_shows_the_releases_since_the_sites_version(client, key, activated, releases):
    sections = get_version(client, key, version="1.0.0")["sections"]
    assert "<h4>1.2.0</h4>" in sections
    assert "<h4>1.1.0</h4>" in sections
    sections = get_version(client, key, version="1.1.0")["sections"]
    assert "<h4>1.1.0</h4>" not in sections


def test_a_cached_get_version_costs_no_sql(client, key, activated, releases):
    get_version(client, key)
    get_version(client, key)
    with CaptureQueriesContext(connection) as queries:
        body = get_version(client, key)
    assert body["new_version"] == "1.2.0"
    assert len(queries) == 0


def test_another_brands_key_is_missing_with_sections(client, releases):
    other = BrandFactory.create(slug="other", key_prefix="OTHR")
    product = ProductFactory.create(brand=other, slug="rankmath-pro")
    other_key = LicenseKeyFactory.create(brand=other)
    LicenseFactory.create(product=product, license_key=other_key)
    body = get_version(client, other_key.key)
    assert (body["success"], body["error"]) == (False, "missing")
    assert set(body) >= FIELDS
    assert (body["new_version"], body["package"]) == ("", "")


def test_an_unknown_key_is_200_with_sections(client, db):
    response = edd(client, "get_version", license="nope", item_id=ITEM_ID, url=SITE)
    assert response.status_code == 200
    body = answer(response)
    assert set(body) >= FIELDS
    assert body["error"] == "missing"


def test_a_product_without_releases_answers_no_version(client, key, activated):
    body = get_version(client, key)
    assert (body["new_version"], body["package"]) == ("", "")
    assert set(body) >= FIELDS


def test_the_slug_names_the_product_when_item_name_and_id_are_missing(
    client, key, activated, releases
):
    body = get_version(client, key, item_id="0", item_name="0")
    assert body["new_version"] == "1.2.0"


def test_check_as_get_version_refreshes_the_heartbeat(client, key, activated, releases):
    before = Activation.objects.get().last_seen_at
    Activation.objects.update(last_seen_at=before - timedelta(days=2))
    get_version(client, key)
    assert Activation.objects.get().last_seen_at > before - timedelta(days=2)


def test_php_serialize_counts_bytes():
    assert php_serialize({"a": "é"}) == 'a:1:{s:1:"a";s:2:"é";}'


@pytest.mark.skipif(shutil.which("php") is None, reason="needs php-cli")
def test_php_unserializes_the_sections_into_an_array():
    text = php_serialize({"description": "", "changelog": '<h4>1.0</h4>\n<p>"é" ; }</p>'})
    script = (
        "error_reporting(E_ALL); $v = unserialize(stream_get_contents(STDIN)); "
        "echo is_array($v) ? json_encode($v) : 'no';"
    )
    php = subprocess.run(
        [shutil.which("php") or "php", "-r", script],
        input=text.encode(),
        capture_output=True,
        check=True,
        timeout=30,
    )
    assert php.stderr == b""
    assert php.stdout.decode() == (
        '{"description":"","changelog":"<h4>1.0<\\/h4>\\n<p>\\"\\u00e9\\" ; }<\\/p>"}'
    )

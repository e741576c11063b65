"""Signed package URLs and the download view."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from licensing.models import License
from releases.downloads import (
    BadToken,
    download_token,
    download_token_read,
    download_url_for,
)
from tests.factories import ActivationFactory, LicenseFactory
from tests.releases.conftest import create_release, make_zip

SITE = "example.com"


@pytest.fixture
def license_(product):
    """A license whose site (SITE) holds a live seat: what a package URL is signed for."""
    lic = LicenseFactory.create(product=product)
    ActivationFactory.create(license=lic, instance_identifier=SITE)
    return lic


@pytest.fixture
def release(product):
    return create_release(
        product, "1.2.0", published_at=timezone.now() - timedelta(days=1), content=make_zip(70_000)
    )


def test_a_valid_license_downloads_the_streamed_package(api_client, license_, release):
    url = download_url_for(license_=license_, release=release, site=SITE)
    assert url.startswith("/api/v1/product/downloads/")
    response = api_client.get(url)
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "application/zip"
    assert 'filename="rankmath-pro-1.2.0.zip"' in response["Content-Disposition"]
    assert b"".join(response.streaming_content) == release.package.open("rb").read()


def test_the_token_names_license_release_site_and_expiry(license_, release):
    before = time.time()
    token = download_token(license_id=license_.pk, release_id=release.pk, site=SITE)
    payload = download_token_read(token)
    assert (payload["l"], payload["r"], payload["s"]) == (license_.pk, release.pk, SITE)
    assert before + 3600 - 1 <= payload["e"] <= time.time() + 3600


def test_an_altered_url_is_403(api_client, license_, release):
    url = download_url_for(license_=license_, release=release, site=SITE)
    token = url.rstrip("/").rsplit("/", 1)[1]
    payload, signature = token.rsplit(":", 1)
    tampered = payload + ":" + ("A" if signature[0] != "A" else "B") + signature[1:]
    for bad in (tampered, "garbage", token[:-1], "a:b:c"):
        response = api_client.get(f"/api/v1/product/downloads/{bad}")
        assert response.status_code == 403, bad
        assert response.json()["error"] == "permission_denied"


def test_a_token_for_another_release_cannot_be_made_from_one(license_, release):
    token = download_token(license_id=license_.pk, release_id=release.pk, site=SITE)
    other = download_token(license_id=license_.pk, release_id=release.pk + 1, site=SITE)
    spliced = other.rsplit(":", 1)[0] + ":" + token.rsplit(":", 1)[1]
    with pytest.raises(BadToken):
        download_token_read(spliced)


def test_an_expired_url_is_403(api_client, license_, release):
    token = download_token(
        license_id=license_.pk, release_id=release.pk, site=SITE, now=time.time() - 7200
    )
    response = api_client.get(f"/api/v1/product/downloads/{token}")
    assert response.status_code == 403
    assert response.json()["error"] == "permission_denied"


@pytest.mark.parametrize("status", [License.Status.SUSPENDED, License.Status.CANCELLED])
def test_suspended_and_cancelled_licenses_may_not_download(api_client, license_, release, status):
    url = download_url_for(license_=license_, release=release, site=SITE)
    License.objects.filter(pk=license_.pk).update(status=status)
    response = api_client.get(url)
    assert response.status_code == 403
    assert response.json()["error"] == f"license_{status}"


def test_an_expired_license_gets_releases_published_before_it_expired(
    api_client, product, license_
):
    now = timezone.now()
    old = create_release(product, "1.0.0", published_at=now - timedelta(days=30))
    new = create_release(product, "1.1.0", published_at=now - timedelta(days=5))
    License.objects.filter(pk=license_.pk).update(expires_at=now - timedelta(days=10))
    license_.refresh_from_db()
    old_url = download_url_for(license_=license_, release=old, site=SITE)
    assert api_client.get(old_url).status_code == 200
    response = api_client.get(download_url_for(license_=license_, release=new, site=SITE))
    assert response.status_code == 403
    assert response.json()["error"] == "license_expired"


def test_a_yanked_or_draft_release_is_404(api_client, product, license_, release):
    draft = create_release(product, "2.0.0")
    response = api_client.get(download_url_for(license_=license_, release=draft, site=SITE))
    assert response.status_code == 404
    url = download_url_for(license_=license_, release=release, site=SITE)
    release.yanked_at = timezone.now()
    release.save(update_fields=["yanked_at"])
    assert api_client.get(url).json()["error"] == "not_found"


def test_a_license_of_another_product_gets_403(api_client, other_product, release):
    other_license = LicenseFactory.create(product=other_product)
    url = download_url_for(license_=other_license, release=release, site=SITE)
    response = api_client.get(url)
    assert response.status_code == 403
    assert response.json()["error"] == "permission_denied"


def test_accel_redirect_hands_the_file_to_nginx(api_client, license_, release, settings):
    settings.DOWNLOADS_ACCEL_REDIRECT = "/.releases/"
    response = api_client.get(download_url_for(license_=license_, release=release, site=SITE))
    assert response.status_code == 200
    assert response["X-Accel-Redirect"] == f"/.releases/{release.package.name}"
    assert response.content == b""
    assert response["Content-Type"] == "application/zip"


def test_other_methods_are_405(api_client, license_, release):
    url = download_url_for(license_=license_, release=release, site=SITE)
    response = api_client.post(url)
    assert response.status_code == 405
    assert response.json()["error"] == "method_not_allowed"


def test_a_released_seats_link_stops_working(api_client, license_, release):
    url = download_url_for(license_=license_, release=release, site=SITE)
    license_.activations.all().delete()
    response = api_client.get(url)
    assert (response.status_code, response.json()["error"]) == (403, "permission_denied")
    assert "seat" in response.json()["message"]


def test_a_link_for_another_site_is_refused(api_client, license_, release):
    url = download_url_for(license_=license_, release=release, site="elsewhere.example.org")
    assert api_client.get(url).status_code == 403


def test_a_reclaimed_seats_link_is_refused(api_client, license_, release):
    license_.activations.update(reclaimed_at=timezone.now())
    url = download_url_for(license_=license_, release=release, site=SITE)
    assert api_client.get(url).status_code == 403


def test_downloads_are_rate_limited_per_license_key(api_client, license_, release, settings):
    settings.THROTTLE_DOWNLOAD_KEY = "2/h"
    url = download_url_for(license_=license_, release=release, site=SITE)
    codes = [api_client.get(url).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    throttled = api_client.get(url)
    assert throttled.json()["error"] == "throttled"
    assert int(throttled["Retry-After"]) > 0

"""Brand API for releases: upload, list, read, publish, yank, edit."""

from __future__ import annotations

import hashlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from audit.models import AuditEvent
from releases.models import Release
from tests.releases.conftest import create_release, make_zip

URL = "/api/v1/brand/products/rankmath-pro/releases"


def upload(client, content=None, name="my-plugin.zip", url=URL, **fields):
    data = {"version": "1.0.0", **fields}
    data["package"] = SimpleUploadedFile(name, make_zip() if content is None else content)
    return client.post(url, data, format="multipart")


def test_upload_creates_a_draft(brand_client, product, releases_root):
    content = make_zip(3000)
    response = upload(
        brand_client, content, version="1.2.0", channel="beta", changelog="## 1.2.0\n* New"
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["version"] == "1.2.0"
    assert body["channel"] == "beta"
    assert body["product"] == "rankmath-pro"
    assert body["sha256"] == hashlib.sha256(content).hexdigest()
    assert body["size"] == len(content)
    assert body["published"] is False
    assert body["yanked"] is False
    assert body["changelog"] == "## 1.2.0\n* New"
    assert AuditEvent.objects.filter(action="release.created", actor="rankmath").count() == 1


def test_a_client_file_name_never_becomes_a_path(brand_client, product, releases_root, tmp_path):
    response = upload(brand_client, name="../../../../outside/evil.php")
    assert response.status_code == 201, response.json()
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(files) == 1
    (stored,) = files
    assert stored.parent == releases_root / "rankmath" / "rankmath-pro"
    assert stored.name.startswith("1.0.0-")
    assert stored.suffix == ".zip"
    assert "evil" not in str(stored)


def test_an_upload_over_the_limit_is_413(brand_client, product, releases_root, settings):
    settings.RELEASE_MAX_UPLOAD_BYTES = 2000
    response = upload(brand_client, make_zip(10_000))
    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"
    assert response.json()["details"] == {"max_bytes": 2000}
    assert not Release.objects.exists()
    assert not releases_root.exists() or not any(releases_root.rglob("*.zip"))


def test_a_declared_body_far_over_the_limit_is_413_before_it_is_read(
    brand_client, product, settings
):
    settings.RELEASE_MAX_UPLOAD_BYTES = 2000
    response = brand_client.post(
        URL,
        b"x" * 10,
        content_type="multipart/form-data; boundary=xyz",
        CONTENT_LENGTH=str(10**9),
    )
    assert response.status_code == 413
    assert response.json()["details"] == {"max_bytes": 2000}


def test_a_non_zip_is_400_naming_the_package(brand_client, product):
    response = upload(brand_client, b"<?php echo 'hi';")
    assert response.status_code == 400
    assert response.json()["error"] == "validation_error"
    assert "package" in response.json()["details"]


def test_a_missing_package_or_version_is_400_naming_them(brand_client, product):
    response = brand_client.post(URL, {"changelog": "x"}, format="multipart")
    assert response.status_code == 400
    assert set(response.json()["details"]) >= {"package", "version"}


@pytest.mark.parametrize("version", ["1.0 beta", "", "1" * 65, "1.0/2", "-1.0"])
def test_a_bad_version_is_400_naming_it(brand_client, product, version):
    response = upload(brand_client, version=version)
    assert response.status_code == 400
    assert "version" in response.json()["details"]


def test_a_nul_byte_in_a_form_field_is_400_naming_it(brand_client, product):
    response = upload(brand_client, changelog="a\x00b")
    assert response.status_code == 400
    assert "changelog" in response.json()["details"]


def test_a_retried_upload_is_answered_with_the_release_it_made(brand_client, product):
    first = upload(brand_client)
    assert first.status_code == 201
    again = upload(brand_client)
    assert again.status_code == 200
    assert again["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert Release.objects.count() == 1


def test_an_existing_version_with_another_package_is_409(brand_client, product):
    assert upload(brand_client).status_code == 201
    response = upload(brand_client, make_zip(5000))
    assert response.status_code == 409
    assert response.json()["error"] == "idempotency_conflict"
    assert "version" in response.json()["details"]


def test_json_instead_of_multipart_is_415(brand_client, product):
    response = brand_client.post(URL, {"version": "1.0.0"}, format="json")
    assert response.status_code == 415
    assert response.json()["error"] == "unsupported_media_type"


def test_list_is_newest_version_first(brand_client, product):
    for version in ["1.9.9", "1.10.0", "2.0.0-beta.1", "2.0.0"]:
        create_release(product, version)
    response = brand_client.get(URL)
    assert response.status_code == 200
    assert [r["version"] for r in response.json()["results"]] == [
        "2.0.0",
        "2.0.0-beta.1",
        "1.10.0",
        "1.9.9",
    ]


def test_patch_publishes_edits_and_yanks(brand_client, product):
    release = create_release(product, "1.0.0")
    url = f"{URL}/{release.pk}"
    response = brand_client.patch(url, {"published": True, "tested": "6.8"}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["published"] is True
    assert response.json()["tested"] == "6.8"
    response = brand_client.patch(url, {"yanked": True}, format="json")
    assert response.json()["yanked"] is True
    response = brand_client.patch(url, {"yanked": False}, format="json")
    assert response.status_code == 409
    assert response.json()["error"] == "invalid_transition"
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"release.published", "release.updated", "release.yanked"} <= actions


def test_patch_with_a_wrong_type_is_400(brand_client, product):
    release = create_release(product, "1.0.0")
    response = brand_client.patch(f"{URL}/{release.pk}", {"published": "yes"}, format="json")
    assert response.status_code == 400
    assert "published" in response.json()["details"]


def test_get_one_release(brand_client, product):
    release = create_release(product, "1.0.0")
    response = brand_client.get(f"{URL}/{release.pk}")
    assert response.status_code == 200
    assert response.json()["id"] == release.pk


def test_other_brand_gets_404(other_brand_client, product, other_product):
    release = create_release(product, "1.0.0")
    assert other_brand_client.get(URL).status_code == 404
    assert other_brand_client.get(f"{URL}/{release.pk}").json()["error"] == "not_found"
    response = other_brand_client.patch(f"{URL}/{release.pk}", {"yanked": True}, format="json")
    assert response.status_code == 404
    assert upload(other_brand_client).status_code == 404
    # its own product does not reach this product's release either
    other_url = f"/api/v1/brand/products/wp-rocket/releases/{release.pk}"
    assert other_brand_client.get(other_url).status_code == 404
    assert Release.objects.get(pk=release.pk).yanked_at is None


def test_without_credentials_401(api_client, product):
    response = api_client.get(URL)
    assert response.status_code == 401
    assert response.json()["error"] == "not_authenticated"

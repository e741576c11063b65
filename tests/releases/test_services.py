"""releases.services and releases.selectors."""

from __future__ import annotations

import hashlib
import io
from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from license_service.errors import ValidationFailed
from releases.errors import PackageTooLarge, VersionConflict
from releases.errors import ReleaseInvalidTransition as InvalidTransition
from releases.models import Release
from releases.selectors import release_latest_for, releases_list_for_product
from releases.services import (
    release_create,
    release_edit,
    release_publish,
    release_update,
    release_yank,
)
from releases.signals import release_changed
from tests.releases.conftest import ACTOR, create_release, make_zip


def latest_version(product, **kwargs):
    release = release_latest_for(product, **kwargs)
    return None if release is None else release.version


def stored_files(root):
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_create_stores_the_zip_with_its_hash_and_size_under_a_name_of_our_own(
    product, releases_root
):
    content = make_zip(5000)
    release, created = release_create(
        product=product,
        actor=ACTOR,
        version="1.2.0",
        package=io.BytesIO(content),
        changelog="* Fixed things",
        requires="6.0",
        requires_php="7.4",
        tested="6.7",
    )
    assert created
    assert release.sha256 == hashlib.sha256(content).hexdigest()
    assert release.size == len(content)
    assert release.published_at is None  # a draft
    name = release.package.name
    assert name.startswith("rankmath/rankmath-pro/1.2.0-")
    assert name.endswith(".zip")
    (stored,) = stored_files(releases_root)
    assert stored.read_bytes() == content
    event = AuditEvent.objects.get(action="release.created")
    assert event.target_id == str(release.pk)
    assert (event.after or {})["sha256"] == release.sha256


def test_a_package_over_the_limit_is_refused_and_nothing_is_stored(
    product, releases_root, settings
):
    settings.RELEASE_MAX_UPLOAD_BYTES = 1000
    with pytest.raises(PackageTooLarge) as caught:
        release_create(
            product=product, actor=ACTOR, version="1.0.0", package=io.BytesIO(make_zip(5000))
        )
    assert caught.value.http_status == 413
    assert caught.value.details == {"max_bytes": 1000}
    assert stored_files(releases_root) == []
    assert not Release.objects.exists()


@pytest.mark.parametrize("content", [b"", b"not a zip at all", b"PK\x03\x04garbage"])
def test_a_package_that_is_no_zip_is_refused_naming_the_field(product, releases_root, content):
    with pytest.raises(ValidationFailed) as caught:
        release_create(product=product, actor=ACTOR, version="1.0.0", package=io.BytesIO(content))
    assert list(caught.value.details) == ["package"]
    assert stored_files(releases_root) == []


def test_the_same_version_with_the_same_package_is_answered_with_that_release(
    product, releases_root
):
    first = create_release(product, "1.0.0")
    again, created = release_create(
        product=product, actor=ACTOR, version="1.0.0", package=io.BytesIO(make_zip())
    )
    assert (again.pk, created) == (first.pk, False)
    assert len(stored_files(releases_root)) == 1
    assert AuditEvent.objects.filter(action="release.created").count() == 1


def test_the_same_version_with_another_package_is_a_409_naming_the_field(product, releases_root):
    first = create_release(product, "1.0.0")
    with pytest.raises(VersionConflict) as caught:
        create_release(product, "1.0.0", content=make_zip(999))
    assert caught.value.http_status == 409
    assert caught.value.code == "idempotency_conflict"
    assert "version" in caught.value.details
    assert caught.value.details["release_id"] == first.pk
    assert len(stored_files(releases_root)) == 1


def test_the_same_version_in_another_product_is_fine(product, other_product):
    create_release(product, "1.0.0")
    assert create_release(other_product, "1.0.0").version == "1.0.0"


def test_a_bad_version_is_refused(product, releases_root):
    with pytest.raises(ValidationFailed) as caught:
        create_release(product, "../../etc/passwd")
    assert list(caught.value.details) == ["version"]
    assert stored_files(releases_root) == []


def test_publish_yank_and_update_are_audited(product):
    release = create_release(product, "1.0.0")
    release = release_publish(release=release, actor=ACTOR)
    assert release.published_at is not None
    first_published = release.published_at
    assert release_publish(release=release, actor=ACTOR).published_at == first_published
    release = release_update(release=release, actor=ACTOR, changelog="new notes", tested="6.8")
    assert (release.changelog, release.tested) == ("new notes", "6.8")
    release = release_yank(release=release, actor=ACTOR)
    assert release.yanked_at is not None
    actions = list(
        AuditEvent.objects.filter(target_type="release")
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert actions == ["release.created", "release.published", "release.updated", "release.yanked"]
    updated = AuditEvent.objects.get(action="release.updated")
    assert (updated.before or {})["tested"] == ""
    assert (updated.after or {})["tested"] == "6.8"


def test_a_yanked_release_cannot_be_published_nor_unyanked(product):
    release = release_yank(release=create_release(product, "1.0.0"), actor=ACTOR)
    with pytest.raises(InvalidTransition):
        release_publish(release=release, actor=ACTOR)
    with pytest.raises(InvalidTransition):
        release_edit(release=release, actor=ACTOR, yanked=False)


def test_a_published_release_cannot_be_unpublished(product):
    release = release_publish(release=create_release(product, "1.0.0"), actor=ACTOR)
    with pytest.raises(InvalidTransition):
        release_edit(release=release, actor=ACTOR, published=False)


def test_list_is_newest_version_first(product):
    for version in ["1.9.9", "1.10.0", "2.0.0-beta.1", "2.0.0", "1.0"]:
        create_release(product, version)
    assert [r.version for r in releases_list_for_product(product)] == [
        "2.0.0",
        "2.0.0-beta.1",
        "1.10.0",
        "1.9.9",
        "1.0",
    ]


def test_latest_is_the_newest_published_not_yanked_stable_release(product):
    now = timezone.now()
    create_release(product, "1.9.9", published_at=now - timedelta(days=30))
    create_release(product, "1.10.0", published_at=now - timedelta(days=20))
    create_release(product, "1.11.0", published_at=now - timedelta(days=10), yanked=True)
    create_release(product, "2.0.0")  # a draft
    create_release(product, "2.0.0-beta.1", channel="beta", published_at=now - timedelta(days=5))
    assert latest_version(product, include_beta=False) == "1.10.0"
    assert latest_version(product, include_beta=True) == "2.0.0-beta.1"


def test_latest_published_before_a_date(product):
    now = timezone.now()
    create_release(product, "1.0.0", published_at=now - timedelta(days=30))
    create_release(product, "1.1.0", published_at=now - timedelta(days=10))
    before = now - timedelta(days=20)
    assert latest_version(product, include_beta=False, published_before=before) == "1.0.0"
    assert (
        release_latest_for(product, include_beta=False, published_before=now - timedelta(days=40))
        is None
    )


def test_latest_of_a_product_without_releases_is_none(product):
    assert release_latest_for(product, include_beta=True) is None


def test_publish_yank_and_update_announce_the_change_after_commit(
    product, django_capture_on_commit_callbacks
):
    seen = []

    def receiver(sender, product_id, **kwargs):
        seen.append(product_id)

    release_changed.connect(receiver)
    try:
        release = create_release(product, "1.0.0")
        assert seen == []  # a draft changes no update answer
        with django_capture_on_commit_callbacks(execute=True):
            release = release_publish(release=release, actor=ACTOR)
            assert seen == []  # not before the commit
        with django_capture_on_commit_callbacks(execute=True):
            release = release_update(release=release, actor=ACTOR, tested="6.9")
        with django_capture_on_commit_callbacks(execute=True):
            release_yank(release=release, actor=ACTOR)
    finally:
        release_changed.disconnect(receiver)
    assert seen == [product.pk, product.pk, product.pk]

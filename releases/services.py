"""Every write on releases: create (upload), publish, yank, update.

Each service runs in one transaction and writes its audit row inside it; a change that
alters what an update check answers sends ``releases.signals.release_changed`` after commit
(the get_version cache of the next step listens there).
"""

from __future__ import annotations

import hashlib
import tempfile
import zipfile
from typing import IO, Any

from django.conf import settings
from django.core.files import File
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.services import Actor, audit_record
from brands.models import Product
from events.services import event_record
from license_service.errors import ValidationFailed
from releases.errors import PackageTooLarge, ReleaseInvalidTransition, VersionConflict
from releases.models import Release
from releases.serializers import ReleaseOutputSerializer
from releases.signals import release_changed_on_commit
from releases.versions import version_validate

CHUNK_BYTES = 64 * 1024
# Up to this much of a package is spooled in memory, the rest in a temporary file.
SPOOL_MEMORY_BYTES = 1024 * 1024
UNSET: Any = object()
NOTE_FIELDS = ("changelog", "requires", "requires_php", "tested")


def _existing(product: Product, version: str, sha256: str) -> Release | None:
    """The product's release of this version if it holds the same package (an upload
    retried: answered with that release); ``VersionConflict`` if it holds another one."""
    existing = Release.objects.filter(product=product, version=version).first()
    if existing is not None and existing.sha256 != sha256:
        raise VersionConflict(version=version, release_id=existing.pk)
    return existing


def _spool(package: IO[bytes], max_bytes: int) -> tuple[IO[bytes], str, int]:
    """Copy ``package`` in chunks to a spooled temporary file, hashing and counting on the
    way; ``PackageTooLarge`` as soon as it passes ``max_bytes`` (read no further)."""
    digest = hashlib.sha256()
    size = 0
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY_BYTES)  # noqa: SIM115 (returned)
    try:
        while chunk := package.read(CHUNK_BYTES):
            size += len(chunk)
            if size > max_bytes:
                raise PackageTooLarge(max_bytes)
            digest.update(chunk)
            spool.write(chunk)
        spool.seek(0)
    except BaseException:
        spool.close()
        raise
    return spool, digest.hexdigest(), size


def release_create(
    *,
    product: Product,
    actor: Actor,
    version: str,
    package: IO[bytes],
    channel: str = Release.Channel.STABLE,
    changelog: str = "",
    requires: str = "",
    requires_php: str = "",
    tested: str = "",
) -> tuple[Release, bool]:
    """A draft release of ``product`` holding ``package`` (a zip), stored under a name of our
    own; ``(release, True)``. The same version with the same package again (a retried
    upload) changes nothing: ``(that release, False)``. Raises ``ValidationFailed`` (a
    version that is none, a package that is no zip: each naming its field),
    ``VersionConflict`` (the version exists with another package) and ``PackageTooLarge``
    (over ``RELEASE_MAX_UPLOAD_BYTES``); nothing is stored then."""
    version = version_validate(version)
    max_bytes: int = settings.RELEASE_MAX_UPLOAD_BYTES
    spool, sha256, size = _spool(package, max_bytes)
    with spool:
        existing = _existing(product, version, sha256)
        if existing is not None:
            return existing, False
        if size == 0 or not zipfile.is_zipfile(spool):
            raise ValidationFailed(
                "The package is not a zip file.", details={"package": ["Not a zip file."]}
            )
        spool.seek(0)
        release = Release(
            product=product,
            version=version,
            channel=channel,
            sha256=sha256,
            size=size,
            changelog=changelog,
            requires=requires,
            requires_php=requires_php,
            tested=tested,
        )
        # Saves through the storage (chunked), under package_upload_to's name.
        release.package.save("package.zip", File(spool), save=False)
    try:
        with transaction.atomic():
            release.save()
            audit_record(
                action="release.created",
                actor=actor,
                target_type="release",
                target_id=release.pk,
                brand_id=product.brand_id,
                after=release.audit_state(),
            )
    except IntegrityError:  # the same version uploaded concurrently
        release.package.delete(save=False)
        existing = _existing(product, version, sha256)
        if existing is None:
            raise
        return existing, False
    except BaseException:
        release.package.delete(save=False)
        raise
    return release, True


def _locked(release: Release) -> Release:
    return (
        Release.objects.select_for_update(of=("self",))
        .select_related("product__brand")
        .get(pk=release.pk)
    )


def _audit(action: str, release: Release, actor: Actor, before: dict[str, Any]) -> None:
    audit_record(
        action=action,
        actor=actor,
        target_type="release",
        target_id=release.pk,
        brand_id=release.product.brand_id,
        before=before,
        after=release.audit_state(),
    )


@transaction.atomic
def release_publish(*, release: Release, actor: Actor) -> Release:
    """draft -> published (now). Publishing a published release changes nothing; a yanked
    release cannot be published (``ReleaseInvalidTransition``)."""
    release = _locked(release)
    if release.yanked_at is not None:
        raise ReleaseInvalidTransition(action="publish", current_status="yanked")
    if release.published_at is not None:
        return release
    before = release.audit_state()
    release.published_at = timezone.now()
    release.save(update_fields=["published_at", "updated_at"])
    _audit("release.published", release, actor, before)
    event_record(
        type_="release.published",
        brand_id=release.product.brand_id,
        data={"release": dict(ReleaseOutputSerializer(release).data)},
    )
    release_changed_on_commit(release.product_id, release.product.brand.slug)
    return release


@transaction.atomic
def release_yank(*, release: Release, actor: Actor) -> Release:
    """Withdraw a release (published or not): never offered nor downloadable again. Yanking
    a yanked release changes nothing."""
    release = _locked(release)
    if release.yanked_at is not None:
        return release
    before = release.audit_state()
    release.yanked_at = timezone.now()
    release.save(update_fields=["yanked_at", "updated_at"])
    _audit("release.yanked", release, actor, before)
    release_changed_on_commit(release.product_id, release.product.brand.slug)
    return release


@transaction.atomic
def release_update(
    *,
    release: Release,
    actor: Actor,
    changelog: str = UNSET,
    requires: str = UNSET,
    requires_php: str = UNSET,
    tested: str = UNSET,
) -> Release:
    """Edit the notes of a release (its changelog and compatibility fields); the version,
    channel and package of a release never change (upload a new version)."""
    release = _locked(release)
    changes = {
        name: value
        for name, value in zip(
            NOTE_FIELDS, (changelog, requires, requires_php, tested), strict=True
        )
        if value is not UNSET and getattr(release, name) != value
    }
    if not changes:
        return release
    before = release.audit_state()
    for name, value in changes.items():
        setattr(release, name, value)
    release.save(update_fields=[*changes, "updated_at"])
    _audit("release.updated", release, actor, before)
    release_changed_on_commit(release.product_id, release.product.brand.slug)
    return release


@transaction.atomic
def release_edit(
    *,
    release: Release,
    actor: Actor,
    published: bool | None = None,
    yanked: bool | None = None,
    notes: dict[str, str] | None = None,
) -> Release:
    """The brand API's PATCH in one transaction: notes, then publish, then yank. A release
    cannot be unpublished nor brought back from a yank (``ReleaseInvalidTransition``)."""
    release = _locked(release)
    if published is False and release.published_at is not None:
        raise ReleaseInvalidTransition(action="unpublish", current_status="published")
    if yanked is False and release.yanked_at is not None:
        raise ReleaseInvalidTransition(action="unyank", current_status="yanked")
    if notes:
        release = release_update(
            release=release,
            actor=actor,
            changelog=notes.get("changelog", UNSET),
            requires=notes.get("requires", UNSET),
            requires_php=notes.get("requires_php", UNSET),
            tested=notes.get("tested", UNSET),
        )
    if published:
        release = release_publish(release=release, actor=actor)
    if yanked:
        release = release_yank(release=release, actor=actor)
    return release

"""Releases fixtures: a temporary releases storage per test, zips, releases."""

from __future__ import annotations

import io
import zipfile
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from audit.services import Actor
from brands.models import Product
from releases.models import Release
from releases.services import release_create

ACTOR = Actor.brand("rankmath")


def make_zip(payload_bytes: int = 100, name: str = "my-plugin/my-plugin.php") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr(name, b"<?php\n" + b"x" * payload_bytes)
    return buffer.getvalue()


@pytest.fixture(autouse=True)
def releases_root(settings: Any, tmp_path: Path) -> Path:
    """Each test stores packages under its own temporary MEDIA_ROOT."""
    root = tmp_path / "releases"
    settings.MEDIA_ROOT = tmp_path
    assert Release._meta.get_field("package").storage.path("x") == str(root / "x")
    return root


def create_release(
    product: Product,
    version: str,
    *,
    channel: str = Release.Channel.STABLE,
    published_at: datetime | None = None,
    yanked: bool = False,
    content: bytes | None = None,
) -> Release:
    release, _ = release_create(
        product=product,
        actor=ACTOR,
        version=version,
        package=io.BytesIO(content if content is not None else make_zip()),
        channel=channel,
    )
    if published_at is not None or yanked:
        release.published_at = published_at
        release.yanked_at = timezone.now() if yanked else None
        release.save(update_fields=["published_at", "yanked_at"])
    return release

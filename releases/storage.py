"""The local storage of release packages: ``MEDIA_ROOT/releases``.

A ``FileSystemStorage`` whose default location is computed from ``MEDIA_ROOT`` each time
that setting changes (Django clears the cached location then), not fixed when the model's
field evaluates its storage at import: tests and deployments that move MEDIA_ROOT move the
packages with it. An S3-compatible bucket replaces it through ``STORAGES["releases"]``.
"""

from __future__ import annotations

import os

from django.conf import settings
from django.core.files.storage import FileSystemStorage
from django.utils.functional import cached_property

RELEASES_DIRECTORY = "releases"


class LocalReleasesStorage(FileSystemStorage):
    @cached_property
    def base_location(self) -> str:
        default = os.path.join(settings.MEDIA_ROOT, RELEASES_DIRECTORY)
        # FileSystemStorage's own pattern: the OPTIONS location if given, else the default.
        location = getattr(self, "_location", None)
        return str(self._value_or_setting(location, default))

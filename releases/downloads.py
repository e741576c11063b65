"""Signed, expiring package URLs and the download view (SPEC §11).

A token names the license, the release, the site (an instance identifier) and its expiry,
signed with Django's ``Signer`` (HMAC-SHA256, a key derived from SECRET_KEY with this
module's own salt, so no other signed value of the service is a valid token). The view
checks the signature and the expiry, counts the download against the license key's
``THROTTLE_DOWNLOAD_KEY`` window, then checks the license's state at the time of use and
that the site the token names still holds a live seat of it (a released seat's link stops
working), and streams the file (or hands it to nginx with ``X-Accel-Redirect``). Nothing is audited
here: every site downloads; a Prometheus counter counts the outcomes.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote

from django.conf import settings
from django.core import signing
from django.http import FileResponse, HttpRequest, HttpResponse, HttpResponseBase
from django.urls import reverse
from prometheus_client import Counter

from activations.models import Activation, ActivationState
from license_service.api.errors import error_response
from license_service.api.exceptions import domain_error_response
from license_service.errors import Throttled
from license_service.ratelimit import rate_limit_hit
from licensing.models import License
from releases.models import Release

SALT = "releases.download.v1"
DOWNLOAD_SCOPE = "download-key"
STREAM_BLOCK_BYTES = 64 * 1024
DOWNLOAD_OUTCOMES = ("served", "accel", "refused")

RELEASE_DOWNLOADS = Counter(
    "release_download_total",
    "Package downloads: served (streamed by the application), accel (handed to nginx) or "
    "refused (a bad or expired link, a license that may not download, a withdrawn release).",
    ["outcome"],
)
_DOWNLOADS = {outcome: RELEASE_DOWNLOADS.labels(outcome) for outcome in DOWNLOAD_OUTCOMES}


def _signer() -> signing.Signer:
    return signing.Signer(salt=SALT, algorithm="sha256")


def download_token(
    *, license_id: int, release_id: int, site: str, ttl: int | None = None, now: float | None = None
) -> str:
    """A token for this license, release and site, valid ``ttl`` seconds
    (``DOWNLOAD_URL_TTL`` by default)."""
    lifetime = settings.DOWNLOAD_URL_TTL if ttl is None else ttl
    expires = int((time.time() if now is None else now) + lifetime)
    payload = {"l": license_id, "r": release_id, "s": site, "e": expires}
    return _signer().sign_object(payload, compress=True)


def download_url_for(
    *, license_: License, release: Release, site: str, ttl: int | None = None
) -> str:
    """The path of a package URL (the caller makes it absolute with its request's host)."""
    token = download_token(license_id=license_.pk, release_id=release.pk, site=site, ttl=ttl)
    return reverse("release-download", kwargs={"token": token})


class BadToken(Exception):
    pass


def download_token_read(token: str, *, now: float | None = None) -> dict[str, Any]:
    """The token's payload; ``BadToken`` when it was altered, is malformed or has expired."""
    try:
        payload = _signer().unsign_object(token)
    except (signing.BadSignature, ValueError, UnicodeError) as exc:
        raise BadToken("altered") from exc
    if not isinstance(payload, dict):
        raise BadToken("malformed")
    license_id, release_id, site, expires = (payload.get(k) for k in ("l", "r", "s", "e"))
    if not (
        isinstance(license_id, int)
        and isinstance(release_id, int)
        and isinstance(site, str)
        and isinstance(expires, int)
    ):
        raise BadToken("malformed")
    if expires < (time.time() if now is None else now):
        raise BadToken("expired")
    return payload


def _refused(code: str, message: str, status: int = 403) -> HttpResponse:
    _DOWNLOADS["refused"].inc()
    return error_response(code=code, message=message, status=status)


def _license_refusal(license_: License, release: Release) -> HttpResponse | None:
    """Why this license may not download this release now, or None. Valid: any published
    release; expired: those published before it expired; suspended, cancelled: none."""
    status = license_.effective_status()
    if status == License.Status.VALID:
        return None
    if status == License.EXPIRED:
        expired_at = license_.expires_at
        published_at = release.published_at
        if expired_at is not None and published_at is not None and published_at < expired_at:
            return None
        return _refused(
            "license_expired", "This license expired before this release was published."
        )
    return _refused(f"license_{status}", f"This license is {status}: no downloads.")


def _file_name(release: Release) -> str:
    return f"{release.product.slug}-{release.version}.zip"


def download_view(request: HttpRequest, token: str) -> HttpResponseBase:
    """GET a package by its signed URL."""
    if request.method not in {"GET", "HEAD"}:
        response = error_response(
            code="method_not_allowed", message=f'Method "{request.method}" not allowed.', status=405
        )
        response["Allow"] = "GET, HEAD"
        return response
    try:
        payload = download_token_read(token)
    except BadToken:
        return _refused("permission_denied", "This download link was altered or has expired.")
    return _checked(payload)


def _checked(payload: dict[str, Any]) -> HttpResponseBase:
    """A well-signed, unexpired token's download: refused, throttled or served."""
    release = Release.objects.select_related("product").filter(pk=payload["r"]).first()
    license_ = License.objects.filter(pk=payload["l"]).first()
    if license_ is None or release is None or license_.product_id != release.product_id:
        return _refused("permission_denied", "This download link is not valid.")
    if release.published_at is None or release.yanked_at is not None:
        return _refused("not_found", "This release is no longer available.", status=404)
    try:
        rate_limit_hit(DOWNLOAD_SCOPE, str(license_.license_key_id), settings.THROTTLE_DOWNLOAD_KEY)
    except Throttled as exc:
        _DOWNLOADS["refused"].inc()
        return domain_error_response(exc)
    refusal = _license_refusal(license_, release) or _site_refusal(license_, release, payload["s"])
    return refusal or _serve(release)


def _site_refusal(license_: License, release: Release, site: str) -> HttpResponse | None:
    """Why the site the token names may not download now: it holds no live seat of the
    license (its seat was released, reclaimed, or its heartbeat lapsed)."""
    row = (
        Activation.objects.filter(license_id=license_.pk, instance_identifier=site)
        .only("last_seen_at", "reclaimed_at")
        .first()
    )
    heartbeat = release.product.heartbeat_seconds
    if row is not None and row.state(heartbeat) == ActivationState.ACTIVE:
        return None
    return _refused("permission_denied", "This site holds no active seat of this license.")


def _serve(release: Release) -> HttpResponseBase:
    accel: str = settings.DOWNLOADS_ACCEL_REDIRECT
    if accel:
        _DOWNLOADS["accel"].inc()
        response = HttpResponse(content_type="application/zip")
        response["X-Accel-Redirect"] = accel.rstrip("/") + "/" + quote(release.package.name)
        response["Content-Disposition"] = f'attachment; filename="{_file_name(release)}"'
        return response
    _DOWNLOADS["served"].inc()
    file_response = FileResponse(
        release.package.open("rb"), as_attachment=True, filename=_file_name(release)
    )
    file_response.block_size = STREAM_BLOCK_BYTES
    file_response["Content-Type"] = "application/zip"
    return file_response

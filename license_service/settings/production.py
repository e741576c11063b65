"""Production settings: no default secret (refuses to start), DEBUG off, secure headers and
cookies, static files (admin, API docs) served by WhiteNoise without any CDN.

``manage.py check --deploy`` is clean with these settings (tests/ops/test_production.py).
"""

from __future__ import annotations

from django.core.checks.security.base import (
    SECRET_KEY_MIN_LENGTH,
    SECRET_KEY_MIN_UNIQUE_CHARACTERS,
)
from django.core.exceptions import ImproperlyConfigured

from .base import *
from .base import MIDDLEWARE, RELEASES_STORAGE, SIGNING_KEYS_SECRET_MIN_LENGTH, env

SECRET_KEY = env("SECRET_KEY", default="")
# Django's own bounds (the security.W009 check of ``check --deploy``), refused at start.
if (
    len(SECRET_KEY) < SECRET_KEY_MIN_LENGTH
    or len(set(SECRET_KEY)) < SECRET_KEY_MIN_UNIQUE_CHARACTERS
    or SECRET_KEY.startswith("insecure-")
):
    raise ImproperlyConfigured(
        "SECRET_KEY must be set to a random value of 50+ characters "
        "(python -c 'import secrets; print(secrets.token_urlsafe(64))')."
    )

# The key that encrypts the brands' signing keys (SPEC §12): required, long, not SECRET_KEY.
SIGNING_KEYS_SECRET = env("SIGNING_KEYS_SECRET", default="")
if (
    len(SIGNING_KEYS_SECRET) < SIGNING_KEYS_SECRET_MIN_LENGTH
    or SIGNING_KEYS_SECRET.startswith("insecure-")
    or SIGNING_KEYS_SECRET == SECRET_KEY
):
    raise ImproperlyConfigured(
        f"SIGNING_KEYS_SECRET must be set to a random value of {SIGNING_KEYS_SECRET_MIN_LENGTH}+ "
        "characters, distinct from SECRET_KEY "
        "(python -c 'import secrets; print(secrets.token_urlsafe(48))')."
    )

DEBUG = False
if env.bool("DEBUG", default=False):
    raise ImproperlyConfigured("DEBUG must not be enabled with production settings.")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS")
CSRF_TRUSTED_ORIGINS: list[str] = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# TLS ends at the load balancer, which says so in X-Forwarded-Proto.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
# Probes and scrapes come from inside the network, over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SESSION_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SECURE = True
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"

# Static files (the admin's, Swagger UI's from drf-spectacular-sidecar) from the app
# itself: `manage.py collectstatic` at image build, hashed names, compressed copies.
MIDDLEWARE = list(MIDDLEWARE)
MIDDLEWARE.insert(
    MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1,
    "whitenoise.middleware.WhiteNoiseMiddleware",
)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    "releases": RELEASES_STORAGE,
}

"""Production settings refuse to start unsafely and pass ``manage.py check --deploy``."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GOOD_SECRET = secrets.token_urlsafe(64)
GOOD_SIGNING_SECRET = secrets.token_urlsafe(48)


def run_with(env_overrides: dict[str, str | None], *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DEBUG")}
    env["DJANGO_SETTINGS_MODULE"] = "license_service.settings.production"
    env["SIGNING_KEYS_SECRET"] = GOOD_SIGNING_SECRET
    env["ALLOWED_HOSTS"] = "licenses.example.com"
    for key, value in env_overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize(
    "secret",
    [None, "", "short", "insecure-dev-only-secret-key-change-me-0123456789-abcdefghijkl", "a" * 64],
)
def test_production_refuses_to_start_without_a_real_secret(secret):
    result = run_with({"SECRET_KEY": secret}, "check")
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "SECRET_KEY" in result.stderr


@pytest.mark.parametrize(
    "signing_secret",
    [None, "", "s" * 31, "insecure-dev-only-signing-keys-secret-0123456789", "same-as-secret-key"],
)
def test_production_refuses_to_start_without_a_real_signing_keys_secret(signing_secret):
    if signing_secret == "same-as-secret-key":
        signing_secret = GOOD_SECRET
    result = run_with({"SECRET_KEY": GOOD_SECRET, "SIGNING_KEYS_SECRET": signing_secret}, "check")
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "SIGNING_KEYS_SECRET" in result.stderr


def test_production_starts_with_a_32_character_signing_keys_secret():
    code = "from django.conf import settings as s; print(len(s.SIGNING_KEYS_SECRET))"
    secret = secrets.token_hex(16)
    result = run_with(
        {"SECRET_KEY": GOOD_SECRET, "SIGNING_KEYS_SECRET": secret},
        "shell",
        "--verbosity",
        "0",
        "-c",
        code,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "32"


def test_production_refuses_debug():
    result = run_with({"SECRET_KEY": GOOD_SECRET, "DEBUG": "true"}, "check")
    assert result.returncode != 0
    assert "DEBUG" in result.stderr


def test_production_needs_allowed_hosts():
    result = run_with({"SECRET_KEY": GOOD_SECRET, "ALLOWED_HOSTS": None}, "check")
    assert result.returncode != 0
    assert "ALLOWED_HOSTS" in result.stderr


def test_check_deploy_is_clean():
    result = run_with({"SECRET_KEY": GOOD_SECRET}, "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_secure_headers_and_cookies():
    code = (
        "from django.conf import settings as s; "
        "print(s.DEBUG, s.SECURE_SSL_REDIRECT, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, "
        "s.SECURE_HSTS_SECONDS > 0, s.SECURE_CONTENT_TYPE_NOSNIFF, s.X_FRAME_OPTIONS, "
        "'whitenoise.middleware.WhiteNoiseMiddleware' in s.MIDDLEWARE)"
    )
    result = run_with({"SECRET_KEY": GOOD_SECRET}, "shell", "--verbosity", "0", "-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "False",
        "True",
        "True",
        "True",
        "True",
        "True",
        "DENY",
        "True",
    ]


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "300 300"),
        ({"CHECK_CACHE_TTL": "120"}, "120 120"),
        ({"CHECK_CACHE_TTL": "120", "CHECK_NEAR_CACHE_TTL": "30"}, "120 30"),
    ],
)
def test_near_cache_entries_live_as_long_as_redis_entries_by_default(env, expected):
    code = (
        "from django.conf import settings as s; "
        "k = s.LICENSE_SERVICE; print(k['CHECK_CACHE_TTL'], k['CHECK_NEAR_CACHE_TTL'])"
    )
    overrides: dict[str, str | None] = {
        "SECRET_KEY": GOOD_SECRET,
        "CHECK_CACHE_TTL": None,
        "CHECK_NEAR_CACHE_TTL": None,
        **env,
    }
    result = run_with(overrides, "shell", "--verbosity", "0", "-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected

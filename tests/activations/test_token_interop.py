"""Cross-language proof of SPEC §12: a token the running service issued verifies with the
npm package ``jose`` under Node against the JWKS fetched over HTTP, and only against its
own brand's, untampered.

The server is the production one (gunicorn.conf.py, production settings, a throwaway
SQLite file). ``jose`` is installed from tests/js/package-lock.json by ``make install`` /
``make test`` (npm ci), never here: tests never reach the internet. Without node or the
installed package this test fails under CI and skips, loudly, elsewhere.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.live import free_port, gunicorn_serving, production_env

ROOT = Path(__file__).resolve().parents[2]
JS_DIR = ROOT / "tests" / "js"

SEED = """
from brands.models import Brand, Product
from licensing.keys import generate_license_key
from licensing.models import License, LicenseKey
keys = []
for slug, prefix in (("alpha", "ALPH"), ("beta", "BETA")):
    brand = Brand.objects.create(name=slug, slug=slug, key_prefix=prefix)
    product = Product.objects.create(brand=brand, name="App", slug="app", default_max_seats=2)
    key = LicenseKey.objects.create(
        brand=brand, key=generate_license_key(prefix), customer_email="u@example.com"
    )
    License.objects.create(product=product, license_key=key, max_seats=2)
    keys.append(key.key)
print(" ".join(keys))
"""


def _node() -> str:
    node = shutil.which("node")
    missing = None
    if node is None:
        missing = "node is not installed (apt-get install nodejs npm)"
    elif not (JS_DIR / "node_modules" / "jose" / "package.json").exists():
        missing = "jose is not installed in tests/js (make install runs npm ci there)"
    if missing is not None:
        if os.environ.get("CI"):
            pytest.fail(f"the jose interop test cannot run under CI: {missing}")
        pytest.skip(f"the jose interop test did not run: {missing}")
    assert node is not None
    return node


def _request(url: str, body: dict[str, Any] | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"} if body is not None else {}
    request = urllib.request.Request(url, data=data, headers=headers)  # noqa: S310 (loopback)
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (loopback)
        return json.loads(response.read())


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, list[str]]]:
    env = production_env(tmp_path, free_port())
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "--verbosity", "0"], cwd=ROOT, env=env, check=True)
    seeded = subprocess.run(
        [*manage, "shell", "--verbosity", "0", "-c", SEED],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    with gunicorn_serving(env, tmp_path) as base:
        yield base, seeded.stdout.split()


def _verify_with_jose(
    node: str, tmp_path: Path, jwks: dict[str, Any], token: str, issuer: str
) -> subprocess.CompletedProcess[str]:
    jwks_file = tmp_path / f"jwks-{secrets.token_hex(4)}.json"
    jwks_file.write_text(json.dumps(jwks))
    return subprocess.run(
        [node, str(JS_DIR / "verify.mjs"), str(jwks_file), token, issuer],
        cwd=JS_DIR,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_node_jose_verifies_a_token_the_running_service_issued(server, tmp_path):
    node = _node()
    base, (alpha_key, beta_key) = server
    answer = _request(
        f"{base}/api/v1/product/activate",
        {"license_key": alpha_key, "product_slug": "app", "instance_identifier": "site.example"},
    )
    token = answer["license_token"]
    alpha_jwks = _request(f"{base}/api/v1/product/jwks/alpha")
    assert _request(f"{base}/.well-known/jwks.json")["keys"] == alpha_jwks["keys"]

    verified = _verify_with_jose(node, tmp_path, alpha_jwks, token, base)
    assert verified.returncode == 0, verified.stderr
    result = json.loads(verified.stdout)
    assert result["header"]["typ"] == "license+jwt"
    assert result["claims"]["sub"] == str(answer["license_id"])
    assert result["claims"]["instance"] == "site.example"
    assert result["claims"]["status"] == "valid"

    # The other brand's JWKS (its key made by its own first token) does not verify it.
    _request(
        f"{base}/api/v1/product/activate",
        {"license_key": beta_key, "product_slug": "app", "instance_identifier": "b.example"},
    )
    beta_jwks = _request(f"{base}/api/v1/product/jwks/beta")
    assert beta_jwks["keys"]
    refused = _verify_with_jose(node, tmp_path, beta_jwks, token, base)
    assert refused.returncode == 1
    assert "ERR_JWKS_NO_MATCHING_KEY" in refused.stderr

    # A tampered claim fails the signature.
    header, payload, signature = token.split(".")
    forged_payload = payload[:-4] + ("AAAA" if payload[-4:] != "AAAA" else "BBBB")
    tampered = _verify_with_jose(
        node, tmp_path, alpha_jwks, f"{header}.{forged_payload}.{signature}", base
    )
    assert tampered.returncode == 1

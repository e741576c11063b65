"""Fuzz the running service against its own OpenAPI document (schemathesis, all checks).

What it does, all on loopback and in a throwaway directory:

1. migrates a fresh SQLite database and seeds it: the demo brands, products and API keys
   (``load_demo_data``), one license with one activation, and a spare API key for the
   revocation endpoint to revoke;
2. starts gunicorn with the production settings (plain HTTP, very high rate limits) and,
   in front of it, nginx with docker-compose.yml's configuration (scripts/local_proxy.py):
   the fuzzer tests the stack as deployed, and a generated URL longer than any server takes
   gets the proxy's JSON 400, not gunicorn's HTML 414. Without an nginx binary (or with
   ``--no-proxy``) it fuzzes gunicorn directly and says so;
3. runs ``schemathesis run`` with every check, authenticated as a brand (API key and brand
   JWT) and as staff (staff JWT), see ``schemathesis.toml``;
4. stops the servers, prints the server-side errors they logged, and exits with
   schemathesis' status.

    python scripts/schemathesis_run.py [--max-examples N] [--seed S] [--no-proxy] [extra args]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from http import HTTPStatus
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: scripts/ is sys.path[0], not the repository
    sys.path.insert(0, str(ROOT))

from scripts.local_proxy import Nginx, find_nginx, start_nginx  # noqa: E402 (needs the path above)

PYTHON = sys.executable
BIN = Path(PYTHON).parent

SEED_CODE = """
import json
from datetime import timedelta
from django.contrib.auth import get_user_model
from django.utils import timezone
from rest_framework_simplejwt.tokens import RefreshToken
from audit.services import Actor
from activations.services import activation_create
from brands.authentication import BrandAccessToken, api_key_lookup
from brands.models import Brand
from brands.services import api_key_create
from brands.management.commands.load_demo_data import DEMO_BRANDS
from licensing.services import license_provision

actor = Actor.system("schemathesis")
demo = DEMO_BRANDS[0]
brand = Brand.objects.get(slug=demo.slug)
product = demo.products[0].slug
lic = license_provision(
    brand=brand, customer_email="fuzz@example.com", product_slug=product, actor=actor,
    expires_at=timezone.now() + timedelta(days=365),
)
activation = activation_create(
    license_key=lic.license_key.key, product_slug=product,
    instance_identifier="fuzz.example.com", actor=actor,
)
spare, _ = api_key_create(brand=brand, name="revocable", scopes=None, actor=actor)
admin = get_user_model().objects.get(username="admin")
print(json.dumps({
    "brand_slug": brand.slug,
    "brand_api_key": demo.api_key,
    "brand_jwt": str(BrandAccessToken.for_api_key(api_key_lookup(demo.api_key))),
    "staff_jwt": str(RefreshToken.for_user(admin).access_token),
    "staff_refresh": str(RefreshToken.for_user(admin)),
    "license_key": lic.license_key.key,
    "license_id": lic.pk,
    "product_slug": product,
    "product_id": brand.products.get(slug=product).pk,
    "activation_id": activation.activation_id,
    "spare_api_key_id": spare.pk,
}))
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [PYTHON, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        sys.exit(f"manage.py {' '.join(args[:1])} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (loopback)
                if response.status == HTTPStatus.OK:
                    return
        except OSError:
            pass
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    sys.exit(f"server did not become ready:\n{log.read_text()[-5000:]}")


def server_errors(log: Path) -> list[str]:
    errors = []
    for line in log.read_text().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            errors.append(line)
            continue
        if record.get("level") in ("error", "critical"):
            errors.append(line)
    return errors


def parse_args() -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--max-examples", type=int, default=int(os.environ.get("ST_EXAMPLES", "40"))
    )
    parser.add_argument("--seed", default=os.environ.get("ST_SEED", ""))
    # One worker: CPython 3.11.7's ast.parse is not thread-safe ("AST constructor recursion
    # depth mismatch"), and hypothesis calls it while describing strategies.
    parser.add_argument("--workers", default=os.environ.get("ST_WORKERS", "1"))
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument(
        "--no-proxy", action="store_true", help="fuzz gunicorn directly, without nginx in front"
    )
    return parser.parse_known_args()


def settings_environments(workdir: Path) -> tuple[dict[str, str], dict[str, str]]:
    """The environments of the production and the local settings, on one fresh database."""
    base_env = {
        k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "DEBUG")
    }
    env = {
        **base_env,
        "SECRET_KEY": secrets.token_urlsafe(64),
        "SIGNING_KEYS_SECRET": secrets.token_urlsafe(48),
        "DATABASE_URL": f"sqlite:///{workdir / 'db.sqlite3'}",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "STATIC_ROOT": str(workdir / "static"),
        "PROMETHEUS_MULTIPROC_DIR": str(workdir / "prometheus"),
        "STAFF_JWT_MINUTES": "240",
        "BRAND_JWT_SECONDS": str(4 * 3600),
        # The fuzzer sends thousands of requests from one IP; the limits are tested elsewhere.
        "THROTTLE_PRODUCT_IP": "100000000/m",
        "THROTTLE_PRODUCT_KEY": "100000000/m",
        "THROTTLE_UNKNOWN_KEY_IP": "100000000/m",
        "THROTTLE_BRAND": "100000000/m",
        "THROTTLE_AUTH_IP": "100000000/m",
        # The fuzzer adds webhook endpoints by the hundred (the limit is tested elsewhere).
        "WEBHOOK_MAX_ENDPOINTS": "1000000",
    }
    prod = {
        **env,
        "DJANGO_SETTINGS_MODULE": "license_service.settings.production",
        "SECURE_SSL_REDIRECT": "false",
    }
    local = {**env, "DJANGO_SETTINGS_MODULE": "license_service.settings.local", "DEBUG": "true"}
    return prod, local


def seed(workdir: Path, prod: dict[str, str], local: dict[str, str]) -> dict[str, Any]:
    print(f"== schemathesis: seeding {workdir}", flush=True)
    manage(prod, "migrate", "--noinput", "--verbosity", "0")
    manage(prod, "collectstatic", "--noinput", "--verbosity", "0")
    manage(local, "load_demo_data")
    seeded: dict[str, Any] = json.loads(
        manage(local, "shell", "--verbosity", "0", "-c", SEED_CODE).splitlines()[-1]
    )
    return seeded


def start_server(
    prod: dict[str, str], port: int, log: Path, *, use_proxy: bool
) -> subprocess.Popen[bytes]:
    server_env = {
        **prod,
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        # One process: the in-process cache is per process (no Redis here), and the check
        # cache must see every invalidation for the fuzzer's stateful sequences.
        "GUNICORN_WORKERS": "1",
        "GUNICORN_THREADS": "4",
        "GUNICORN_TIMEOUT": "60",
    }
    if use_proxy:
        # As in docker-compose.yml.
        server_env.update(NUM_PROXIES="1", GUNICORN_LIMIT_REQUEST_FIELDS="32768")
    with log.open("w") as log_file:
        return subprocess.Popen(
            [PYTHON, "-m", "gunicorn", "--config", "gunicorn.conf.py"],
            cwd=ROOT,
            env=server_env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )


def schemathesis_env(seeded: dict[str, Any]) -> dict[str, str]:
    """What the hooks (scripts/schemathesis_hooks.py) and schemathesis.toml read."""
    return {
        **os.environ,
        "ST_BRAND_API_KEY": seeded["brand_api_key"],
        "ST_BRAND_JWT": seeded["brand_jwt"],
        "ST_STAFF_JWT": seeded["staff_jwt"],
        "ST_STAFF_REFRESH": seeded["staff_refresh"],
        "ST_BRAND_SLUG": seeded["brand_slug"],
        "ST_LICENSE_KEY": seeded["license_key"],
        "ST_LICENSE_ID": str(seeded["license_id"]),
        "ST_PRODUCT_SLUG": seeded["product_slug"],
        "ST_PRODUCT_ID": str(seeded["product_id"]),
        "ST_ACTIVATION_ID": str(seeded["activation_id"]),
        "ST_SPARE_API_KEY_ID": str(seeded["spare_api_key_id"]),
        "SCHEMATHESIS_HOOKS": "scripts.schemathesis_hooks",
        "PYTHONPATH": str(ROOT),
    }


def schemathesis_command(
    base: str, args: argparse.Namespace, workdir: Path, extra: list[str]
) -> list[str]:
    command = [
        str(BIN / "schemathesis"),
        "--config-file",
        str(ROOT / "schemathesis.toml"),
        "run",
        f"{base}/api/schema/",
        "--checks",
        "all",
        "--max-examples",
        str(args.max_examples),
        "--workers",
        args.workers,
        "--request-timeout",
        "30",
        "--report",
        "junit",
        "--report-dir",
        str(workdir / "report"),
    ]
    if args.seed:
        command += ["--seed", args.seed]
    return command + extra


def stop(server: subprocess.Popen[bytes], proxy: Nginx | None) -> None:
    if proxy is not None:
        proxy.stop()
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()


def main() -> int:
    args, extra = parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="schemathesis-"))
    port = free_port()
    prod, local = settings_environments(workdir)
    seeded = seed(workdir, prod, local)

    log = workdir / "server.log"
    use_proxy = not args.no_proxy and find_nginx() is not None
    if not use_proxy and not args.no_proxy:
        print(
            "== schemathesis: no nginx binary (apt-get install nginx-light): fuzzing gunicorn"
            " directly; a URL over its request-line limit gets an HTML 414",
            flush=True,
        )
    server = start_server(prod, port, log, use_proxy=use_proxy)
    base = f"http://127.0.0.1:{port}"
    proxy: Nginx | None = None
    try:
        wait_ready(f"{base}/readyz", server, log)
        if use_proxy:
            proxy = start_nginx(
                workdir / "nginx", listen_port=free_port(), upstream=f"127.0.0.1:{port}"
            )
            base = proxy.url
            wait_ready(f"{base}/readyz", server, log)
        print(f"== schemathesis: server ready at {base}", flush=True)
        command = schemathesis_command(base, args, workdir, extra)
        print("== schemathesis: " + " ".join(command[3:]), flush=True)
        run = subprocess.run(command, cwd=ROOT, env=schemathesis_env(seeded), check=False)
        status = run.returncode
    finally:
        stop(server, proxy)
    errors = server_errors(log)
    if errors:
        print(f"== schemathesis: the server logged {len(errors)} error line(s):")
        for line in errors[:20]:
            print(line[:4000])
        status = status or 1
    print(f"== schemathesis: work files in {workdir}" if args.keep else "", flush=True)
    if not args.keep and status == 0:
        shutil.rmtree(workdir, ignore_errors=True)
    elif status:
        print(f"== schemathesis: work files kept in {workdir}")
    return status


if __name__ == "__main__":
    sys.exit(main())

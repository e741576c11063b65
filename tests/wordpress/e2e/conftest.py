"""The end-to-end rig: this service running for real (gunicorn, production settings, a
throwaway SQLite database) on loopback, and a real WordPress (Debian's ``wordpress``
package, PHP CLI, a throwaway MariaDB database) whose plugin talks to it.

WordPress is driven through ``php`` CLI scripts (``php/step.php``) that load it as a web
request would; no web server is involved, since only the site's outgoing calls (the
plugin's and the EDD updater's, through WordPress's HTTP API) matter here. Each step hands
back its result as JSON, with every PHP error, warning and notice raised on the way.

What it needs (Debian packages ``wordpress``, ``php-cli``, ``php-curl``, ``php-mysql``,
installed by ``.ci/run`` and ``make test-tools``; MariaDB on 127.0.0.1:3306, root without a
password, as on this project's machines): when something is missing, the tests fail under
CI (``CI`` set) and are skipped, saying why, elsewhere.

The plugin bundles an update client (``client/README.md``): EDD's unmodified
``EDD_SL_Plugin_Updater`` when its file is there (this repository does not ship it), else
the test's own protocol client; the update check, "View details" and upgrade run with
either.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.wordpress.e2e.updater import bundled_updater, updater_problem

ROOT = Path(__file__).resolve().parents[3]
E2E = Path(__file__).resolve().parent
STEP = E2E / "php" / "step.php"
PLUGIN_SOURCE = E2E / "plugin" / "e2e-licensed-plugin"
MU_PLUGINS = E2E / "mu-plugins"
PLUGIN = "e2e-licensed-plugin/e2e-licensed-plugin.php"
PLUGIN_SLUG = "e2e-licensed-plugin"

WORDPRESS_DIR = Path(os.environ.get("WPE2E_WORDPRESS_DIR", "/usr/share/wordpress"))
MARIADB_HOST = os.environ.get("WPE2E_MARIADB_HOST", "127.0.0.1")
MARIADB_PORT = int(os.environ.get("WPE2E_MARIADB_PORT", "3306"))
MARIADB_USER = os.environ.get("WPE2E_MARIADB_USER", "root")
MARIADB_PASSWORD = os.environ.get("WPE2E_MARIADB_PASSWORD", "")
DEBIAN_PACKAGES = "wordpress php-cli php-curl php-mysql"

# The update client the plugin bundles: see client/README.md.
UPDATER = bundled_updater()

# The store, as the brand sets it up.
BRAND_SLUG = "e2e-brand"
PRODUCT_NAME = "E2E Licensed Plugin"  # the plugin's EDD_SAMPLE_ITEM_NAME
PRODUCT_SLUG = "e2e-licensed-plugin"
ITEM_ID = 4242  # the plugin's EDD_SAMPLE_ITEM_ID
SITE = "https://www.e2e-customer-site.com"  # the WordPress site's home_url()
OLD_VERSION = "1.0.0"  # the version the site runs
NEW_VERSION = "1.1.0"  # the version the store publishes
NEW_VERSION_MARKER = "CHANGES-1.1.0.txt"  # a file only the new version's package has
BETA_VERSION = "1.2.0-beta.1"  # a beta the store publishes too (beta channel)

# PHP deprecations raised by WordPress 6.1's own code (Debian bookworm's package predates
# PHP 8.2) are not the client's: recorded, shown, tolerated. Anything else fails the test.
E_DEPRECATED = 8192
E_USER_DEPRECATED = 16384
STEP_TIMEOUT = 60
SERVER_START_TIMEOUT = 60
LOG_TAIL = 6000


# --- what the rig needs ----------------------------------------------------------------------


def _php() -> str | None:
    return shutil.which("php")


def missing_requirements() -> list[str]:
    """Why the rig cannot run here, if it cannot (empty: it can)."""
    php = _php()
    if php is None:
        return [f"no php binary (apt-get install {DEBIAN_PACKAGES})"]
    problems = []
    modules = subprocess.run(
        [php, "-m"], capture_output=True, text=True, check=False, timeout=30
    ).stdout.lower()
    for module, package in (("curl", "php-curl"), ("mysqli", "php-mysql")):
        if module not in modules.split():
            problems.append(f"PHP has no {module} extension (apt-get install {package})")
    if not (WORDPRESS_DIR / "wp-settings.php").is_file():
        problems.append(f"no WordPress in {WORDPRESS_DIR} (apt-get install wordpress)")
    try:
        with socket.create_connection((MARIADB_HOST, MARIADB_PORT), timeout=2):
            pass
    except OSError as exc:
        problems.append(f"MariaDB does not answer on {MARIADB_HOST}:{MARIADB_PORT} ({exc})")
    return problems


def require_updater() -> None:
    """Fail when ``EDD_SL_UPDATER_FILE`` names no file (rather than run the protocol
    client in place of the EDD class someone asked for)."""
    problem = updater_problem()
    if problem is not None:
        pytest.fail(f"{problem} (tests/wordpress/e2e/client/README.md)", pytrace=False)


def require_rig() -> None:
    """Fail (under CI) or skip (elsewhere), saying what is missing."""
    problems = missing_requirements()
    if not problems:
        return
    message = (
        "needs WordPress, PHP and MariaDB for the EDD end-to-end test: "
        + "; ".join(problems)
        + " (.ci/run and `make test-tools` install the Debian packages)"
    )
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tail(path: Path, size: int = LOG_TAIL) -> str:
    try:
        return path.read_text(errors="replace")[-size:]
    except OSError as exc:
        return f"(no log: {exc})"


# --- the store: this service ----------------------------------------------------------------


@dataclass
class Answer:
    status: int
    body: Any
    text: str


@dataclass
class Store:
    base: str
    log: Path
    brand_api_key: str = ""
    staff_token: str = ""
    port: int = 0

    @property
    def edd_url(self) -> str:
        """The store URL a brand's plugin gets: /edd/<brand>, no trailing slash, as the
        sample plugin's constant has it (the updater adds one)."""
        return f"{self.base}/edd/{BRAND_SLUG}"

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
    ) -> Answer:
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        all_headers = {"Accept": "application/json", **(headers or {})}
        if body is not None and raw is None:
            all_headers["Content-Type"] = "application/json"
        request = urllib.request.Request(  # noqa: S310 (loopback only)
            self.base + path, data=data, method=method, headers=all_headers
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                status, text = response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            status, text = exc.code, exc.read().decode(errors="replace")
        try:
            parsed = json.loads(text) if text else None
        except ValueError:
            parsed = None
        return Answer(status, parsed, text)

    def staff(self, method: str, path: str, body: Any = None) -> Answer:
        return self.request(
            method, path, body=body, headers={"Authorization": f"Bearer {self.staff_token}"}
        )

    def brand(self, method: str, path: str, body: Any = None, **kwargs: Any) -> Answer:
        headers = {"X-Brand-API-Key": self.brand_api_key, **kwargs.pop("headers", {})}
        return self.request(method, path, body=body, headers=headers, **kwargs)

    def expect(self, answer: Answer, status: int, what: str) -> Any:
        if answer.status != status:
            pytest.fail(
                f"{what}: HTTP {answer.status}, expected {status}: {answer.text[:2000]}\n"
                f"--- service log (tail) ---\n{tail(self.log)}",
                pytrace=False,
            )
        return answer.body

    def provision_license(self, *, max_seats: int = 2) -> dict[str, Any]:
        """A fresh license of the product on a fresh key, through the brand API (US1)."""
        body = {
            "customer_email": f"customer-{uuid.uuid4().hex[:8]}@e2e-customer-site.com",
            "product_slug": PRODUCT_SLUG,
            "max_seats": max_seats,
            "new_key": True,
        }
        return dict(self.expect(self.brand("POST", "/api/v1/brand/licenses", body), 201, "US1"))

    def license(self, license_id: int) -> dict[str, Any]:
        answer = self.brand("GET", f"/api/v1/brand/licenses/{license_id}")
        return dict(self.expect(answer, 200, "license read"))

    def license_action(self, license_id: int, action: str) -> dict[str, Any]:
        """US2: suspend, resume, cancel... through the brand API."""
        answer = self.brand("PATCH", f"/api/v1/brand/licenses/{license_id}", {"action": action})
        return dict(self.expect(answer, 200, f"license {action}"))


# The store's database: migrated, with the staff user who sets the brand up (one Django
# start instead of two: migrate, createsuperuser).
PREPARE_DATABASE = """
import os
from django.contrib.auth import get_user_model
from django.core.management import call_command
call_command("migrate", interactive=False, verbosity=0)
get_user_model().objects.create_superuser("e2e", "e2e@x.test", os.environ["WPE2E_STAFF_PASSWORD"])
"""


def _manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if result.returncode != 0:
        pytest.fail(f"manage.py {args[0]} failed:\n{result.stdout}\n{result.stderr}", pytrace=False)
    return result.stdout


def multipart(fields: dict[str, str], files: dict[str, tuple[str, bytes]]) -> tuple[bytes, str]:
    boundary = f"----wpe2e{uuid.uuid4().hex}"
    parts: list[bytes] = []
    for name, value in fields.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
            f"{value}\r\n".encode()
        )
    for name, (filename, content) in files.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
            f'filename="{filename}"\r\nContent-Type: application/zip\r\n\r\n'.encode()
            + content
            + b"\r\n"
        )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def plugin_package(version: str, workdir: Path) -> bytes:
    """The plugin's zip at ``version``, as a brand builds its release: the plugin's folder,
    its header and constant at that version, a file only that version has, and the update
    client it bundles."""
    source = (PLUGIN_SOURCE / "e2e-licensed-plugin.php").read_text()
    source = source.replace(f"Version:     {OLD_VERSION}", f"Version:     {version}")
    source = source.replace(
        f"'E2E_LICENSED_PLUGIN_VERSION', '{OLD_VERSION}'",
        f"'E2E_LICENSED_PLUGIN_VERSION', '{version}'",
    )
    path = workdir / f"{PLUGIN_SLUG}-{version}.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{PLUGIN_SLUG}/", "")
        archive.writestr(f"{PLUGIN_SLUG}/e2e-licensed-plugin.php", source)
        archive.writestr(f"{PLUGIN_SLUG}/{NEW_VERSION_MARKER}", f"{version}\n")
        archive.write(UPDATER.source, f"{PLUGIN_SLUG}/{UPDATER.filename}")
    return path.read_bytes()


def _start_store(workdir: Path) -> tuple[Store, subprocess.Popen[bytes]]:
    port = free_port()
    base_env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env = {
        **base_env,
        "DJANGO_SETTINGS_MODULE": "license_service.settings.production",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "SIGNING_KEYS_SECRET": secrets.token_urlsafe(48),
        "SECURE_SSL_REDIRECT": "false",
        "ALLOWED_HOSTS": "127.0.0.1",
        "DATABASE_URL": f"sqlite:///{workdir / 'db.sqlite3'}",
        "MEDIA_ROOT": str(workdir / "media"),
        "STATIC_ROOT": str(workdir / "static"),
        "PROMETHEUS_MULTIPROC_DIR": str(workdir / "prometheus"),
        "WPE2E_STAFF_PASSWORD": secrets.token_urlsafe(16),
    }
    (workdir / "prometheus").mkdir()
    (workdir / "static").mkdir()
    _manage(env, "shell", "--verbosity", "0", "-c", PREPARE_DATABASE)
    log = workdir / "service.log"
    server_env = {
        **env,
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        # One process: the in-process cache (no Redis here) sees every invalidation.
        "GUNICORN_WORKERS": "1",
        "GUNICORN_THREADS": "4",
    }
    with log.open("w") as log_file:
        proc = subprocess.Popen(
            # No control socket: gunicorn's default path is shared by every gunicorn of the
            # user, and other servers may run beside this one.
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--config",
                "gunicorn.conf.py",
                "--no-control-socket",
            ],
            cwd=ROOT,
            env=server_env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    store = Store(base=f"http://127.0.0.1:{port}", log=log, port=port)
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while True:
        try:
            if store.request("GET", "/healthz").status == 200:
                break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            _stop(proc)
            pytest.fail(f"the service did not start:\n{tail(log)}", pytrace=False)
        time.sleep(0.1)
    token = store.request(
        "POST",
        "/api/v1/auth/token/",
        body={"username": "e2e", "password": env["WPE2E_STAFF_PASSWORD"]},
    )
    store.staff_token = store.expect(token, 200, "staff token")["access"]
    return store, proc


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _publish_release(store: Store, workdir: Path, version: str, channel: str) -> None:
    """A release of the plugin uploaded and published through the brand API."""
    package = plugin_package(version, workdir)
    body, content_type = multipart(
        {
            "version": version,
            "channel": channel,
            "changelog": f"## {version}\n\n* The new version's change.",
            "requires": "6.0",
            "requires_php": "7.4",
            "tested": "6.1",
        },
        {"package": (f"{PLUGIN_SLUG}.zip", package)},
    )
    upload = store.brand(
        "POST",
        f"/api/v1/brand/products/{PRODUCT_SLUG}/releases",
        raw=body,
        headers={"Content-Type": content_type},
    )
    release = store.expect(upload, 201, f"release {version} upload")
    published = store.brand(
        "PATCH",
        f"/api/v1/brand/products/{PRODUCT_SLUG}/releases/{release['id']}",
        {"published": True},
    )
    assert store.expect(published, 200, f"release {version} publish")["published"] is True


def _set_up_brand(store: Store, workdir: Path) -> None:
    """What a brand moving from EDD does: its brand and product (with the EDD item id its
    plugin already sends), an API key, and published releases of the plugin: a stable one
    and a beta."""
    store.expect(
        store.staff(
            "POST",
            "/api/v1/brands/",
            {"name": "E2E Brand", "slug": BRAND_SLUG, "key_prefix": "WPEE"},
        ),
        201,
        "brand",
    )
    key = store.staff("POST", f"/api/v1/brands/{BRAND_SLUG}/api-keys/", {"name": "e2e"})
    store.brand_api_key = store.expect(key, 201, "API key")["api_key"]
    product = {
        "brand": BRAND_SLUG,
        "name": PRODUCT_NAME,
        "slug": PRODUCT_SLUG,
        "default_max_seats": 2,
        "edd_item_id": ITEM_ID,
    }
    store.expect(store.staff("POST", "/api/v1/products/", product), 201, "product")
    _publish_release(store, workdir, NEW_VERSION, "stable")
    _publish_release(store, workdir, BETA_VERSION, "beta")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """This service, live on loopback, with the brand, product and releases set up."""
    require_rig()
    require_updater()
    workdir = tmp_path_factory.mktemp("store")
    store, proc = _start_store(workdir)
    try:
        _set_up_brand(store, workdir)
        yield store
    finally:
        _stop(proc)
        shutil.rmtree(workdir, ignore_errors=True)


# --- the WordPress site ---------------------------------------------------------------------


@dataclass
class Site:
    store: Store
    workdir: Path
    db_name: str
    config: Path
    content: Path
    transcript: list[str] = field(default_factory=list)

    @property
    def plugin_dir(self) -> Path:
        return self.content / "plugins" / PLUGIN_SLUG

    def fail(self, message: str) -> None:
        pytest.fail(
            f"{message}\n--- WordPress steps so far ---\n"
            + "\n".join(self.transcript[-12:])
            + f"\n--- service log (tail) ---\n{tail(self.store.log)}",
            pytrace=False,
        )

    def step(self, name: str, args: dict[str, Any] | None = None) -> Any:
        """Run one step (php/step.php) and return its result. Fails on a PHP error, warning
        or notice, on output outside the result, and on a non-zero exit."""
        php = _php()
        assert php is not None  # require_rig checked
        env = {
            **os.environ,
            "WPE2E_CONFIG": str(self.config),
            "WPE2E_STORE_PORT": str(self.store.port),
        }
        command = [php, "-d", "error_reporting=-1", "-d", "display_errors=stderr"]
        command += ["-d", "memory_limit=256M", str(STEP), name, json.dumps(args or {})]
        started = time.monotonic()
        proc = subprocess.run(
            command,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=STEP_TIMEOUT,
            cwd=self.workdir,
        )
        elapsed = time.monotonic() - started
        output = f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        heading = f"[{name} {json.dumps(args or {})}: exit {proc.returncode}, {elapsed:.1f}s]"
        self.transcript.append(f"{heading}\n{output[-3000:]}")
        before, marker, after = proc.stdout.partition("@@WPE2E-RESULT@@")
        if proc.returncode != 0 or not marker:
            self.fail(f"PHP step {name!r} did not finish (exit {proc.returncode}):\n{output}")
        stray = before.strip() + proc.stderr.strip()
        if stray:
            self.fail(f"PHP step {name!r} printed something besides its result:\n{output}")
        payload = json.loads(after.strip().splitlines()[0])
        problems, notes = [], []
        for error in payload["errors"]:
            line = f"[{error['type']}] {error['message']} at {error['file']}:{error['line']}"
            core = error["file"].startswith(str(WORDPRESS_DIR) + "/")
            if error["type"] in (E_DEPRECATED, E_USER_DEPRECATED) and core:
                notes.append(line)
            else:
                problems.append(line)
        if notes:
            self.transcript.append(f"(tolerated, WordPress core: {len(notes)} deprecation(s))")
        if problems:
            self.fail(
                f"PHP step {name!r} raised {len(problems)} error(s)/warning(s)/notice(s):\n"
                + "\n".join(problems)
            )
        return payload["result"]

    def reset_plugin(self) -> None:
        """The plugin's files as the site had them first (version 1.0.0), with the update
        client it bundles."""
        shutil.rmtree(self.plugin_dir, ignore_errors=True)
        shutil.copytree(PLUGIN_SOURCE, self.plugin_dir)
        shutil.copy(UPDATER.source, self.plugin_dir / UPDATER.filename)


def _database(statement: str) -> None:
    php = _php()
    assert php is not None  # require_rig checked
    code = (
        "$m = new mysqli(getenv('H'), getenv('U'), getenv('P'), null, (int) getenv('O'));"
        "if (!$m->query(getenv('Q'))) { fwrite(STDERR, $m->error); exit(1); }"
    )
    env = {
        **os.environ,
        "H": MARIADB_HOST,
        "U": MARIADB_USER,
        "P": MARIADB_PASSWORD,
        "O": str(MARIADB_PORT),
        "Q": statement,
    }
    result = subprocess.run(
        [php, "-r", code], env=env, capture_output=True, text=True, check=False, timeout=30
    )
    if result.returncode != 0:
        pytest.fail(f"MariaDB refused {statement!r}: {result.stdout}{result.stderr}", pytrace=False)


@pytest.fixture(scope="module")
def site(store: Store, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """A WordPress site on its own MariaDB database, the plugin installed and active, its
    store URL pointed at the service. The database and the directory go at the end."""
    workdir = tmp_path_factory.mktemp("wordpress")
    db_name = f"wp_e2e_{uuid.uuid4().hex[:12]}"
    content = workdir / "wp-content"
    (content / "plugins").mkdir(parents=True)
    shutil.copytree(MU_PLUGINS, content / "mu-plugins")
    config = workdir / "config.json"
    config.write_text(
        json.dumps(
            {
                "db_name": db_name,
                "db_user": MARIADB_USER,
                "db_password": MARIADB_PASSWORD,
                "db_host": f"{MARIADB_HOST}:{MARIADB_PORT}",
                "home": SITE,
                "content_dir": str(content),
                "wordpress_dir": str(WORDPRESS_DIR),
                "salt": secrets.token_hex(16),
            }
        )
    )
    _database(f"CREATE DATABASE `{db_name}` CHARACTER SET utf8mb4")
    site = Site(store=store, workdir=workdir, db_name=db_name, config=config, content=content)
    try:
        site.reset_plugin()
        site.step("install")
        activated = site.step("activate_plugin")
        assert activated["error"] is None, activated
        assert PLUGIN in activated["active_plugins"]
        yield site
    finally:
        _database(f"DROP DATABASE IF EXISTS `{db_name}`")
        shutil.rmtree(workdir, ignore_errors=True)


@dataclass
class Licensed:
    """The site with a fresh license key entered in the plugin."""

    site: Site
    key: str
    license_id: int


@pytest.fixture
def licensed(site: Site) -> Licensed:
    """A fresh license (its own key) entered in the plugin, the plugin's files at 1.0.0, and
    nothing the updater cached from an earlier test."""
    lic = site.store.provision_license()
    site.reset_plugin()
    configured = site.step(
        "configure", {"store_url": site.store.edd_url, "license": lic["license_key"]}
    )
    assert configured["store_url"] == site.store.edd_url
    return Licensed(site=site, key=lic["license_key"], license_id=lic["license_id"])

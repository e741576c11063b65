"""The reverse proxy of docker-compose.yml on this machine: nginx with
deploy/nginx/default.conf.template, on loopback, in front of a local gunicorn.

The template is rendered the way the official nginx image renders it (envsubst of the
``LS_*`` variables only: nginx's own ``$variables`` stay as they are) and included in a
minimal main configuration, as the image's ``http {}`` block includes it. Used by the
OpenAPI fuzz (scripts/schemathesis_run.py) and tests/ops/test_nginx_proxy.py.

    proxy = start_nginx(Path("/tmp/x"), listen_port=8080, upstream="127.0.0.1:8000")
    ...
    proxy.stop()
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "deploy" / "nginx" / "default.conf.template"


def find_nginx() -> str | None:
    """The nginx binary: on PATH, or where Debian and source builds put it (/usr/sbin is
    not on a non-root PATH)."""
    found = shutil.which("nginx")
    if found:
        return found
    for path in ("/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx"):
        if os.access(path, os.X_OK):
            return path
    return None


def render(template: str, variables: dict[str, str]) -> str:
    """envsubst restricted to ``LS_*`` variables, as the image's entrypoint does with
    NGINX_ENVSUBST_FILTER=^LS_. A variable the template uses must be given."""
    missing = set(re.findall(r"\$\{(LS_\w+)\}", template)) - set(variables)
    if missing:
        raise ValueError(f"variables not given: {sorted(missing)}")
    return re.sub(r"\$\{(LS_\w+)\}", lambda m: variables[m.group(1)], template)


@dataclass
class Nginx:
    port: int
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_nginx(base: Path, *, listen_port: int, upstream: str, timeout: float = 15) -> Nginx:
    """nginx in the foreground with its files under ``base`` (created), listening on
    127.0.0.1:``listen_port``; returns once it accepts connections."""
    binary = find_nginx()
    if binary is None:
        raise RuntimeError("no nginx binary (apt-get install nginx-light)")
    base.mkdir(parents=True, exist_ok=True)
    conf = render(
        TEMPLATE.read_text(),
        {"LS_LISTEN": f"127.0.0.1:{listen_port}", "LS_UPSTREAM": upstream},
    )
    (base / "default.conf").write_text(conf)
    temp_paths = "\n".join(
        f"    {kind}_temp_path {base / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    user = "user root;\n" if os.geteuid() == 0 else ""  # workers must reach the temp paths
    (base / "nginx.conf").write_text(
        f"{user}daemon off;\nworker_processes 1;\npid {base / 'nginx.pid'};\n"
        "error_log stderr notice;\n"
        "events { worker_connections 512; }\n"
        f"http {{\n{temp_paths}\n    include {base / 'default.conf'};\n}}\n"
    )
    log = base / "nginx.log"
    proc = subprocess.Popen(
        [binary, "-p", str(base), "-c", str(base / "nginx.conf")],
        # Append mode: nginx reopens /dev/stdout for its access log (with O_APPEND); a
        # second description of the same file at offset 0 would overwrite those lines.
        stdout=log.open("a"),
        stderr=subprocess.STDOUT,
    )
    nginx = Nginx(listen_port, proc, log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", listen_port), timeout=0.5):
                return nginx
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.05)
    nginx.stop()
    raise RuntimeError(f"nginx did not start:\n{log.read_text(errors='replace')[-3000:]}")

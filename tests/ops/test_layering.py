"""``license_service/`` is the plumbing: it imports no app (STYLE.md, "The house"). The URL
map is the one exception: it is where the apps' views are put together."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APPS = {
    "activations",
    "audit",
    "brands",
    "events",
    "licensing",
    "releases",
    "webhooks",
    "wordpress",
}
# What each app may import (STYLE.md, "The house"): imports point down only.
MAY_IMPORT = {
    "audit": set(),
    "brands": {"audit"},
    # The outbox is fed like audit: the services above pass their data in. It needs the
    # brand only (the feed's authentication and the events' owner).
    "events": {"brands"},
    "licensing": {"events", "brands", "audit"},
    # Webhooks read the outbox (events, positions) and write webhook.disabled into it.
    "webhooks": {"events", "brands", "audit"},
    "activations": {"licensing", "events", "brands", "audit"},
    # releases reads a key's check facts (update checks) and keeps the brand catalogue in
    # the check cache (releases.catalog): activations is below it.
    "releases": {"activations", "licensing", "events", "brands", "audit"},
    "wordpress": {"activations", "releases", "licensing", "brands", "audit"},
}
COMPOSITION_ROOTS = {"license_service/urls.py"}


def imported_modules(path: Path) -> set[str]:
    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            modules.add(node.module)
    return modules


def test_license_service_imports_no_app():
    offenders = {
        f"{path.relative_to(ROOT)}: {module}"
        for path in sorted((ROOT / "license_service").rglob("*.py"))
        if str(path.relative_to(ROOT)) not in COMPOSITION_ROOTS
        for module in imported_modules(path)
        if module.split(".")[0] in APPS
    }
    assert offenders == set()


def test_apps_import_only_the_rooms_below_them():
    offenders = {
        f"{path.relative_to(ROOT)}: {module}"
        for app, allowed in MAY_IMPORT.items()
        for path in sorted((ROOT / app).rglob("*.py"))
        for module in imported_modules(path)
        if module.split(".")[0] in APPS - allowed - {app}
    }
    assert offenders == set()

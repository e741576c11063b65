"""``license_service/`` is the plumbing: it imports no app (STYLE.md, "The house"). The URL
map is the one exception: it is where the apps' views are put together."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APPS = {"activations", "audit", "brands", "licensing"}
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

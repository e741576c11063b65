"""Release hygiene: one version number, a license file that matches the metadata, a
changelog, supported Pythons, and a Dockerfile that names only files that exist."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
from packaging.specifiers import SpecifierSet

import license_service

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def built_version(pyproject: dict[str, Any]) -> str:
    """The version a build of pyproject.toml gets: static, or setuptools' ``attr:``
    dynamic version read the way setuptools reads it (statically, from the source)."""
    project = pyproject["project"]
    if "version" in project:
        return str(project["version"])
    assert "version" in project["dynamic"]
    module, _, name = pyproject["tool"]["setuptools"]["dynamic"]["version"]["attr"].rpartition(".")
    source = (ROOT / module.replace(".", "/") / "__init__.py").read_text()
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == name for target in node.targets
        ):
            return str(ast.literal_eval(node.value))
    raise AssertionError(f"{name} not assigned in {module}")


def test_the_openapi_document_carries_the_package_version(client, pyproject, db):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    assert schema["info"]["version"] == built_version(pyproject)
    assert schema["info"]["version"] == license_service.__version__


def test_python_3_11_to_3_13_are_supported(pyproject):
    supported = SpecifierSet(pyproject["project"]["requires-python"])
    for version in ("3.11.0", "3.12.5", "3.13.1"):
        assert version in supported
    assert "3.10.14" not in supported
    assert "3.14.0" not in supported


def test_license_is_an_spdx_string_backed_by_the_license_file(pyproject):
    """A TOML table license is deprecated in setuptools (a warning on every install)."""
    project = pyproject["project"]
    assert project["license"] == "MIT"
    assert project["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License")
    assert "License Service contributors" in text
    requires = pyproject["build-system"]["requires"]
    minimum = next(r for r in requires if r.startswith("setuptools"))
    found = re.search(r">=(\d+)", minimum)
    assert found is not None
    assert int(found.group(1)) >= 77  # PEP 639 support


def test_changelog_follows_keep_a_changelog_with_the_current_version(pyproject):
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert "https://keepachangelog.com/" in changelog
    assert "## [Unreleased]" in changelog
    assert re.search(
        rf"^## \[{re.escape(built_version(pyproject))}\] - \d{{4}}-\d\d-\d\d$",
        changelog,
        re.MULTILINE,
    )


def dockerfile_paths() -> list[str]:
    """Every repository path the Dockerfile names: COPY sources from the build context and
    relative paths in its comments (``docs/…``, ``README.md``)."""
    paths: list[str] = []
    for raw in (ROOT / "Dockerfile").read_text().splitlines():
        line = raw.strip()
        if line.startswith("COPY") and "--from=" not in line:
            words = [w for w in line.split()[1:] if not w.startswith("--")]
            paths += words[:-1]
        elif line.startswith("#") and not line.startswith("# syntax"):
            paths += re.findall(
                r"(?<![\w/.-])((?:[\w-]+/)+[\w.-]*|[\w-]+\.(?:md|py|toml|yml))", line
            )
    return paths


def test_the_dockerfile_names_only_paths_that_exist():
    paths = dockerfile_paths()
    assert "pyproject.toml" in paths
    assert "." in paths
    missing = [path for path in paths if not (ROOT / path).exists()]
    assert missing == []

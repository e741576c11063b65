"""SPEC §10: the environment of an instance, from its normalized identifier."""

from __future__ import annotations

import pytest

from activations.environment import classify_environment
from activations.normalize import normalize_instance_identifier
from brands.patterns import host_pattern_problem, host_patterns_problem

LOCAL = [
    "localhost",
    "http://localhost:8080/wp",
    "127.0.0.1",
    "http://127.0.0.5:8000",
    "10.0.0.7",
    "192.168.1.20/blog",
    "172.16.4.1",
    "http://[::1]:8080",
    "http://[fd00::1]/",
    "http://[fe80::1]",
    "169.254.10.1",
    "mysite.localhost",
    "mysite.local",
    "shop.test",
    "shop.example",
    "shop.invalid",
    "mysite.lndo.site",
    "mysite.ddev.site",
    "abcd-12.ngrok-free.app",
]
STAGING = [
    "staging.example.com",
    "https://stage.example.com/shop",
    "dev.example.com",
    "test.example.co.uk",
    "staging2.example.com",  # SiteGround numbers its staging copies
    "mysite.wpengine.com",
    "mysite.wpenginepowered.com",
    "staging-mysite.kinsta.cloud",
    "dev-mysite.pantheonsite.io",
    "test-mysite.pantheonsite.io",
    "feature-x-mysite.pantheonsite.io",
    "mysite.flywheelsites.com",
    "mysite.flywheelstaging.com",
    "wordpress-123-456.cloudwaysapps.com",
    "happy-cat.instawp.xyz",
    "abc.myftpupload.com",
    "mysite.wpcomstaging.com",
    "mysite.mystagingwebsite.com",
]
PRODUCTION = [
    "example.com",
    "https://www.example.com/blog",
    "example.dev",  # .dev is a public top-level domain
    "dev.to",  # a first-label rule applies to sub-domains only
    "staging.com",
    "test.io",
    "stagingtools.example.com",
    "live-mysite.pantheonsite.io",  # Pantheon's live environment
    "8.8.8.8",
    "http://[2001:4860:4860::8888]",
    "BUILD-AGENT-7",  # machine identifiers are production
    "2024.01.15",
    "6f1c2a9e-1b2c-4d5e-8f90-123456789abc",
    "intranet",
]


@pytest.mark.parametrize("raw", LOCAL)
def test_local(raw: str) -> None:
    assert classify_environment(normalize_instance_identifier(raw)) == "local"


@pytest.mark.parametrize("raw", STAGING)
def test_staging(raw: str) -> None:
    assert classify_environment(normalize_instance_identifier(raw)) == "staging"


@pytest.mark.parametrize("raw", PRODUCTION)
def test_production(raw: str) -> None:
    assert classify_environment(normalize_instance_identifier(raw)) == "production"


def test_brand_patterns_make_hosts_staging() -> None:
    patterns = ["*.preview.example.com", "qa-*.example.org"]
    assert classify_environment("pr-12.preview.example.com", patterns) == "staging"
    assert classify_environment("qa-3.example.org/shop", patterns) == "staging"
    assert classify_environment("example.org", patterns) == "production"
    assert classify_environment("MACHINE-1", ["*"]) == "production"  # never a machine id


@pytest.mark.parametrize("pattern", ["*.staging.example.com", "dev-*.example.org", "a.b"])
def test_valid_patterns(pattern: str) -> None:
    assert host_pattern_problem(pattern) is None


@pytest.mark.parametrize(
    "pattern", ["*", "*.*", "example", "Example.com", "ex ample.com", "a..b", "a.c*", "", 7, None]
)
def test_invalid_patterns(pattern: object) -> None:
    assert host_pattern_problem(pattern) is not None


def test_pattern_lists() -> None:
    assert host_patterns_problem(["*.example.com"]) is None
    assert host_patterns_problem("*.example.com") is not None
    assert host_patterns_problem(["ok.example.com", "*"]) is not None
    assert host_patterns_problem(["a.example.com"] * 101) is not None

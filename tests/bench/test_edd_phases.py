"""The EDD phases of ``make bench`` (issue 15): declared, bracketed, chosen, reported."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from bench import seed
from bench.config import WRK_DIR
from bench.report import (
    PHASE_ORDER,
    SHORT,
    TITLES,
    per_round_ratio,
    rps,
    site_check_note,
    targets,
)
from bench.run import (
    BARE,
    BARE_FORM,
    EDD_CHECK,
    GET_VERSION,
    HIT,
    MISS,
    PAIRS,
    PHASES,
    SITE_CHECK,
    bracketed,
    choose_phases,
    download_summary,
    parse_args,
)
from licensing.keys import generate_license_key
from licensing.models import License, LicenseKey
from tests.releases.conftest import releases_root  # noqa: F401 (a fixture, used by name)


def test_the_edd_phases_are_declared_with_their_action_and_script() -> None:
    assert PHASES["edd_check"] is EDD_CHECK
    assert PHASES["get_version"] is GET_VERSION
    assert (EDD_CHECK.action, GET_VERSION.action) == ("check_license", "get_version")
    for phase in (EDD_CHECK, GET_VERSION):
        assert phase.hot
        script = Path(WRK_DIR, phase.script)
        assert script.exists()
        assert "BENCH_EDD_ACTION" in script.read_text()
    assert not MISS.hot
    assert not PAIRS.hot
    assert HIT.hot


def test_every_phase_has_a_title_a_short_name_and_a_place_in_the_report() -> None:
    assert set(PHASES) == set(PHASE_ORDER) == set(TITLES) == set(SHORT)


def test_the_bare_view_is_measured_again_after_each_cached_phase() -> None:
    assert bracketed([BARE, HIT, MISS, PAIRS, EDD_CHECK, GET_VERSION]) == [
        BARE,
        HIT,
        BARE,
        MISS,
        PAIRS,
        EDD_CHECK,
        BARE,
        GET_VERSION,
        BARE,
    ]


def test_the_edd_phases_are_bracketed_by_the_bare_form_view_too() -> None:
    assert bracketed([BARE, HIT, BARE_FORM, EDD_CHECK, GET_VERSION]) == [
        BARE,
        HIT,
        BARE,
        BARE_FORM,
        EDD_CHECK,
        BARE,
        BARE_FORM,
        GET_VERSION,
        BARE,
        BARE_FORM,
    ]


def test_the_bare_form_view_reads_the_edd_phases_form_and_answers_like_edd(settings: Any) -> None:
    """The a2 ceiling: the same POST as edd.lua sends, read through request.POST."""
    settings.ROOT_URLCONF = "license_service.bench_urls"
    body = "edd_action=check_license&license=K&item_name=p&url=https%3A%2F%2Fs.example.com"
    answer = Client().post(
        "/bench/bare-form/", body, content_type="application/x-www-form-urlencoded"
    )
    assert answer.status_code == 200
    assert answer.json()["license"] == "site_inactive"
    assert Path(WRK_DIR, BARE_FORM.script).read_text().count("BENCH_EDD_PATH") >= 1
    assert BARE_FORM.path == "/bench/bare-form/"


def available(edd: bool) -> dict[str, Any]:
    return {
        "check": True,
        "check_probe": [200, "ok"],
        "pairs": True,
        "pairs_probe": [],
        "edd": edd,
        "edd_probe": [200, "ok"],
    }


def test_the_edd_phases_run_when_the_endpoint_answers() -> None:
    assert choose_phases(available(True))[-3:] == [BARE_FORM, EDD_CHECK, GET_VERSION]
    assert EDD_CHECK not in choose_phases(available(False))


def test_the_site_check_runs_beside_the_edd_phases_on_their_keys_and_site() -> None:
    """(b2): the product API's check of what (e) asks, bracketed by the bare view."""
    assert SITE_CHECK in choose_phases(available(True))
    assert SITE_CHECK not in choose_phases(available(False))
    assert SITE_CHECK.hot
    assert bracketed([BARE, SITE_CHECK]) == [BARE, SITE_CHECK, BARE]
    script = Path(WRK_DIR, SITE_CHECK.script).read_text()
    assert "BENCH_CHECK_SITE" in script
    assert "product_slug=" in script
    assert "instance_identifier=" in script
    assert SITE_CHECK.site in Path(WRK_DIR, EDD_CHECK.script).read_text()  # the same site
    summary = {"site_check_vs_bare": 0.71}
    assert "0.710 × bare" in site_check_note(summary)[0]
    assert site_check_note({"site_check_vs_bare": None}) == []


def test_an_edd_phase_is_compared_with_the_bare_runs_either_side_of_it() -> None:
    runs = [
        {"phase": "bare", "size": 10, "round": 1, "offered_rps": 0, "rps": 100},
        {"phase": "edd_check", "size": 10, "round": 1, "offered_rps": 0, "rps": 90},
        {"phase": "bare", "size": 10, "round": 1, "offered_rps": 0, "rps": 80},
    ]
    assert per_round_ratio(runs, "edd_check", "bare", 10, False, rps) == 1.0


def test_edd_lines_name_each_hot_keys_own_product() -> None:
    dataset = seed.Dataset(brand_id=1, product_ids={}, keys=["K0", "K1", "K2"])
    assert seed.edd_lines(dataset, 2) == [f"K0 {seed.PRODUCT_UNLIMITED}", f"K1 {seed.PRODUCT_PRO}"]


def test_the_download_summary_reports_the_largest_worker_growth() -> None:
    summary = download_summary({1: 80_000, 2: 81_000}, {1: 81_024, 2: 81_512})
    assert summary["max_growth_mib"] == 1.0
    assert summary["rss_before_kib"] == {"1": 80_000, "2": 81_000}


def test_the_targets_judge_the_edd_phases_and_the_download() -> None:
    summary = {
        "hit_vs_bare": None,
        "paced_hit_p99_vs_bare": None,
        "miss_vs_bare": None,
        "miss_p99_large_vs_twin": None,
        "miss_p99_large_vs_small": None,
        "plans_index_only": False,
        "edd_check_vs_bare": 0.9,
        "get_version_vs_bare": 0.7,
        "edd_check_vs_bare_form": 0.95,
        "get_version_vs_bare_form": None,
        "download_rss_growth_mib": 0.5,
    }
    results = {"runs": [], "config": {"licenses_small": 10, "licenses_large": 10}}
    verdicts = {row[0]: row[3] for row in targets(results, summary)}
    assert verdicts["EDD edd_check hit throughput ≥ 0.8 × bare"] == "PASS"
    assert verdicts["EDD get_version hit throughput ≥ 0.8 × bare"] == "FAIL"
    assert verdicts["EDD edd_check hit throughput ≥ 0.8 × a bare form POST (a2)"] == "PASS"
    assert verdicts["EDD get_version hit throughput ≥ 0.8 × a bare form POST (a2)"] == (
        "not measured"
    )
    assert verdicts["20 MiB package download: a worker's RSS growth < 5 MiB"] == "PASS"


def test_help_describes_the_run_and_starts_nothing(capsys: Any) -> None:
    with pytest.raises(SystemExit) as exited:
        parse_args(["--help"])
    assert exited.value.code == 0
    assert "make bench" in capsys.readouterr().out


@pytest.mark.django_db
@pytest.mark.usefixtures("releases_root")
def test_the_phases_requests_are_cached_edd_answers(client: Any) -> None:
    """The body bench/wrk/edd.lua sends, on the benchmark's catalogue and a published
    release: 200 with the EDD answer, and no SQL once cached."""

    dataset = seed.create_catalog()
    key = LicenseKey.objects.create(
        brand_id=dataset.brand_id, key=generate_license_key(seed.KEY_PREFIX), customer_email="b@x.y"
    )
    License.objects.create(
        license_key=key, product_id=dataset.product_ids[seed.PRODUCT_PRO], max_seats=3
    )
    seed.publish_release(dataset, version="1.0.0", payload_bytes=1000)
    for action in ("check_license", "get_version"):
        body = (
            f"edd_action={action}&license={key.key}&item_name={seed.PRODUCT_PRO}"
            f"&url=https%3A%2F%2Fbench-site.example.com&slug={seed.PRODUCT_PRO}&version=0.1"
        )

        def post(body: str = body) -> Any:
            return client.post(
                f"/edd/{seed.BRAND_SLUG}/", body, content_type="application/x-www-form-urlencoded"
            )

        post()
        with CaptureQueriesContext(connection) as queries:
            response = post()
        assert response.status_code == 200
        assert len(queries) == 0
        answer = response.json()
        if action == "get_version":
            assert answer["new_version"] == "1.0.0"
        else:
            assert answer["license"] == "site_inactive"

    # (b2): the product API's check of the same key, product and site, as check.lua asks.
    path = (
        f"/api/v1/product/check/{key.key}?product_slug={seed.PRODUCT_PRO}"
        f"&instance_identifier={SITE_CHECK.site}"
    )
    client.get(path)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path)
    assert response.status_code == 200
    assert len(queries) == 0
    assert response.json()["entitlements"][0]["instance_active"] is False

"""bench/results.md, bench/results.png and bench/results.json from one run's measurements.

Every figure is computed here from the runs bench/run.py recorded; nothing is typed in.
``python -m bench.report [results.json]`` redraws the report from a saved run.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from statistics import fmean as mean
from typing import Any

PHASE_ORDER = [
    "bare", "bare_form", "hit", "site_check", "miss", "pairs", "edd_check", "get_version"
]  # fmt: skip
TITLES = {
    "bare": "(a) bare Django JSON view (ceiling)",
    "bare_form": "(a2) bare Django view of an EDD form POST",
    "hit": "(b) check, cache hit",
    "site_check": "(b2) check naming its product and a site, cache hit",
    "miss": "(c) check, cache miss",
    "pairs": "(d) activate + deactivate pairs",
    "edd_check": "(e) EDD check_license, cache hit",
    "get_version": "(f) EDD get_version, cache hit",
}
KEPT_UP = 0.95
# Issue 13's speed targets ("Must not regress"), as ratios to the bare view measured in the
# same run: the targets table judges by them and the throughput chart draws them.
HIT_VS_BARE_MIN = 0.85
HIT_P99_VS_BARE_MAX = 1.5
MISS_VS_BARE_MIN = 0.4
# ... and the miss p99 at the large dataset against the small one, same offered rate.
MISS_P99_LARGE_VS_SMALL_MAX = 1.2
SHORT = {
    "bare": "a bare",
    "bare_form": "a2 form",
    "hit": "b hit",
    "site_check": "b2 site",
    "miss": "c miss",
    "pairs": "d pairs",
    "edd_check": "e edd",
    "get_version": "f getver",
}
# Issue 15's: the EDD actions' cache hits against the bare view, and a 20 MiB download's
# worker RSS growth (streamed: flat).
EDD_VS_BARE_MIN = 0.8
DOWNLOAD_RSS_GROWTH_MAX_MIB = 5

Run = dict[str, Any]


def median(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def select(runs: list[Run], phase: str, size: int, paced: bool) -> list[Run]:
    return [
        r
        for r in runs
        if r["phase"] == phase and r["size"] == size and bool(r["offered_rps"]) == paced
    ]


def med(runs: list[Run], get: Callable[[Run], float | None]) -> float | None:
    return median([v for v in (get(r) for r in runs) if v is not None])


def per_round_ratio(  # noqa: PLR0913, PLR0917 (the runs, which two phases, size, pacing, measure)
    runs: list[Run], num: str, den: str, size: int, paced: bool, get: Callable[[Run], float]
) -> float | None:
    """Median over rounds of num/den measured in the same round: each num run against the
    mean of the den runs next to it in that round, the one just before and the one just
    after (the phases alternate, so the machine's drift weighs on both sides alike)."""
    if num == den:  # the bare view against itself
        return 1.0 if any(r["phase"] == num and r["size"] == size for r in runs) else None
    group = [r for r in runs if r["size"] == size and bool(r["offered_rps"]) == paced]
    ratios = []
    for i, r in enumerate(group):
        if r["phase"] != num:
            continue
        before = _first(reversed(group[:i]), den, r["round"])
        after = _first(group[i + 1 :], den, r["round"])
        values = [get(o) for o in (before, after) if o is not None]
        if values and mean(values):
            ratios.append(get(r) / mean(values))
    return median(ratios)


def _first(runs: Iterable[Run], phase: str, round_: int) -> Run | None:
    return next((r for r in runs if r["phase"] == phase and r["round"] == round_), None)


def rps(r: Run) -> float:
    return float(r["rps"])


def p50(r: Run) -> float:
    return float(r["latency_ms"]["p50"])


def p99(r: Run) -> float:
    return float(r["latency_ms"]["p99"])


def non_2xx(runs: list[Run]) -> int:
    return sum(n for r in runs for s, n in r["statuses"].items() if not s.startswith("2"))


def socket_errors(runs: list[Run]) -> int:
    return sum(sum(r["socket_errors"].values()) for r in runs)


def db(key: str) -> Callable[[Run], float | None]:
    return lambda r: (r["db_per_request"] or {}).get(key)


def seq_scans(r: Run) -> float | None:
    per_request = r["db_per_request"]
    return None if not per_request else per_request["key_seq_scan"] + per_request["lic_seq_scan"]


def cpu(key: str) -> Callable[[Run], float | None]:
    return lambda r: (r.get("server_cpu") or {}).get(key)


def sizes(results: dict[str, Any]) -> tuple[int, int]:
    cfg = results["config"]
    return int(cfg["licenses_small"]), int(cfg["licenses_large"])


def row_of(runs: list[Run], group: list[Run], phase: str, size: int, paced: bool) -> dict:
    """One table row: the medians of ``group``, the runs of one phase at one size."""
    return {
        "phase": phase,
        "size": size,
        "paced": paced,
        "offered": med(group, lambda r: r["offered_rps"]),
        "n": len(group),
        "rps": med(group, rps),
        "rps_min": min(rps(r) for r in group),
        "rps_max": max(rps(r) for r in group),
        "p50": med(group, p50),
        "p99": med(group, p99),
        "vs_bare": per_round_ratio(runs, phase, "bare", size, paced, rps) if not paced else None,
        "xacts": med(group, db("xacts")),
        "key_idx": med(group, db("key_idx_scan")),
        "seq": med(group, seq_scans),
        "non_2xx": non_2xx(group),
        "socket_errors": socket_errors(group),
        "cpu_us": med(group, cpu("us_per_request")),
        "busy": med(group, cpu("busy")),
        "busiest": med(group, cpu("busiest_share")),
    }


def summarize(results: dict[str, Any]) -> dict[str, Any]:
    runs = results["runs"]
    small, large = sizes(results)
    rows = []
    for size in (small, large):
        for paced in (False, True):
            for phase in PHASE_ORDER:
                group = select(runs, phase, size, paced)
                if not group:
                    continue
                rows.append(row_of(runs, group, phase, size, paced))

    def one(phase: str, size: int, paced: bool, get: Callable[[Run], float]) -> float | None:
        return med(select(runs, phase, size, paced), get)

    miss_small_p99 = one("miss", small, True, p99)
    miss_large_p99 = one("miss", large, True, p99)
    closed_small_p99 = one("miss", small, False, p99)
    closed_large_p99 = one("miss", large, False, p99)
    plans = (results.get("explain") or {}).get("plans", [])
    twins = results.get("twin_runs", [])
    return {
        "rows": rows,
        "hit_vs_bare": per_round_ratio(runs, "hit", "bare", small, False, rps),
        "site_check_vs_bare": per_round_ratio(runs, "site_check", "bare", small, False, rps),
        "edd_check_vs_bare": per_round_ratio(runs, "edd_check", "bare", small, False, rps),
        "get_version_vs_bare": per_round_ratio(runs, "get_version", "bare", small, False, rps),
        "edd_check_vs_bare_form": per_round_ratio(
            runs, "edd_check", "bare_form", small, False, rps
        ),
        "get_version_vs_bare_form": per_round_ratio(
            runs, "get_version", "bare_form", small, False, rps
        ),
        "download_rss_growth_mib": (results.get("download") or {}).get("max_growth_mib"),
        "miss_vs_bare": per_round_ratio(runs, "miss", "bare", small, False, rps),
        "paced_hit_p99_vs_bare": per_round_ratio(runs, "hit", "bare", small, True, p99),
        "miss_p99_large_vs_small": (
            miss_large_p99 / miss_small_p99 if miss_large_p99 and miss_small_p99 else None
        ),
        "miss_p99_large_vs_twin": twin_ratio(results, large, p99),
        "twin_row": row_of(twins, twins, "miss", small, True) if twins else None,
        "miss_closed_p99_large_vs_small": (
            closed_large_p99 / closed_small_p99 if closed_large_p99 and closed_small_p99 else None
        ),
        "miss_rps_large_vs_small": _ratio(
            one("miss", large, False, rps), one("miss", small, False, rps)
        ),
        "bare_rps_large_vs_small": _ratio(
            one("bare", large, False, rps), one("bare", small, False, rps)
        ),
        "plans_index_only": bool(plans) and all("Seq Scan" not in p["plan"] for p in plans),
        "hit_key_lookups": med(select(runs, "hit", small, False), db("key_idx_scan")),
        "miss_key_lookups": med(select(runs, "miss", small, False), db("key_idx_scan")),
    }


def twin_ratio(results: dict[str, Any], large: int, get: Callable[[Run], float]) -> float | None:
    """Median over the large stage's rounds of the paced miss at the large size against the
    paced miss on the twin server (the small database's copy) in the same round."""
    twins = {r["round"]: r for r in results.get("twin_runs", [])}
    ratios = [
        get(r) / get(twins[r["round"]])
        for r in select(results["runs"], "miss", large, True)
        if r["round"] in twins and get(twins[r["round"]])
    ]
    return median(ratios)


def miss_size_target(s: dict[str, Any]) -> tuple[float | None, str]:
    """The 1M-against-10k miss p99: paired with the twin server's when it ran (same
    rounds), else the two stages' medians (minutes apart)."""
    if s["miss_p99_large_vs_twin"] is not None:
        return s["miss_p99_large_vs_twin"], "paired in the same rounds"
    return s["miss_p99_large_vs_small"], "stage medians"


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def fmt(value: float | None, spec: str = ".2f") -> str:
    return "–" if value is None else format(value, spec)


def size_label(n: int) -> str:
    for unit, suffix in ((1_000_000, "M"), (1_000, "k")):
        if n >= unit and n % unit == 0:
            return f"{n // unit}{suffix}"
    return f"{n:,}"


def verdict(value: float | None, ok: Callable[[float], bool]) -> str:
    if value is None:
        return "not measured"
    return "PASS" if ok(value) else "FAIL"


def targets(results: dict[str, Any], s: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    small, large = sizes(results)
    size_ratio, size_how = miss_size_target(s)
    return [
        (
            f"check hit throughput ≥ {HIT_VS_BARE_MIN} × bare (aim 0.90)",
            fmt(s["hit_vs_bare"], ".3f"),  # enough digits to agree with the verdict
            f"≥ {HIT_VS_BARE_MIN}",
            verdict(s["hit_vs_bare"], lambda v: v >= HIT_VS_BARE_MIN),
        ),
        (
            f"check hit p99 ≤ {HIT_P99_VS_BARE_MAX} × bare p99, same offered rate",
            fmt(s["paced_hit_p99_vs_bare"], ".3f"),
            f"≤ {HIT_P99_VS_BARE_MAX}",
            verdict(s["paced_hit_p99_vs_bare"], lambda v: v <= HIT_P99_VS_BARE_MAX),
        ),
        (
            f"check miss throughput ≥ {MISS_VS_BARE_MIN} × bare",
            fmt(s["miss_vs_bare"], ".3f"),
            f"≥ {MISS_VS_BARE_MIN}",
            verdict(s["miss_vs_bare"], lambda v: v >= MISS_VS_BARE_MIN),
        ),
        (
            f"miss p99 at {size_label(large)} ≤ {MISS_P99_LARGE_VS_SMALL_MAX} × at"
            f" {size_label(small)}, same offered rate ({size_how})",
            fmt(size_ratio, ".3f"),
            f"≤ {MISS_P99_LARGE_VS_SMALL_MAX}",
            verdict(size_ratio, lambda v: v <= MISS_P99_LARGE_VS_SMALL_MAX),
        ),
        *(
            (
                f"EDD {name} hit throughput ≥ {EDD_VS_BARE_MIN} × {ceiling}",
                fmt(s.get(f"{name}_vs_{against}"), ".3f"),
                f"≥ {EDD_VS_BARE_MIN}",
                verdict(s.get(f"{name}_vs_{against}"), lambda v: v >= EDD_VS_BARE_MIN),
            )
            for against, ceiling in (("bare", "bare"), ("bare_form", "a bare form POST (a2)"))
            for name in ("edd_check", "get_version")
        ),
        (
            f"20 MiB package download: a worker's RSS growth < {DOWNLOAD_RSS_GROWTH_MAX_MIB} MiB",
            fmt(s["download_rss_growth_mib"]),
            f"< {DOWNLOAD_RSS_GROWTH_MAX_MIB}",
            verdict(s["download_rss_growth_mib"], lambda v: v < DOWNLOAD_RSS_GROWTH_MAX_MIB),
        ),
        (
            f"miss-path plans use index scans only (EXPLAIN at {size_label(large)})",
            "yes" if s["plans_index_only"] else ("no" if results.get("explain") else "–"),
            "yes",
            "PASS"
            if s["plans_index_only"]
            else ("FAIL" if results.get("explain") else "not measured"),
        ),
    ]


def summary_text(results: dict[str, Any]) -> str:
    s = summarize(results)
    lines = [
        f"{'phase':<9}{'licenses':>9}{'offered':>9}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'vs bare':>9}{'xact/req':>9}{'non-2xx':>9}"
    ]
    for row in s["rows"]:
        lines.append(
            f"{SHORT[row['phase']]:<9}{size_label(row['size']):>9}"
            f"{fmt(row['offered'], '.0f'):>9}{fmt(row['rps'], '.0f'):>9}"
            f"{fmt(row['p50']):>9}{fmt(row['p99']):>9}{fmt(row['vs_bare']):>9}"
            f"{fmt(row['xacts']):>9}{row['non_2xx']:>9}"
        )
    lines.append("")
    for name, value, target, result in targets(results, s):
        lines.append(f"{result:<13} {name}: {value} (target {target})")
    return "\n".join(lines)


def markdown(results: dict[str, Any], chart_name: str) -> str:
    s = summarize(results)
    out = _header(results, chart_name)
    for section in (
        _machine,
        _targets,
        _closed_loop,
        _paced,
        _miss_path,
        _method,
        _every_run,
    ):
        out += section(results, s)
    return "\n".join(out)


def _header(results: dict[str, Any], chart_name: str) -> list[str]:
    meta, cfg = results["meta"], results["config"]
    out: list[str] = []
    add = out.append
    add("# Benchmarks: the product check path against the framework's ceiling")
    add("")
    add(
        f"Generated by `make bench` (`python -m bench.run`) on {meta['date']}, "
        f"commit {meta['git']}, in {results['wall_seconds']:.0f} s. Every figure below is "
        "computed by bench/report.py from the measurements saved in results.json; "
        "none is typed in." + (QUICK_NOTE if cfg["quick"] else "")
    )
    add("")
    add(f"![throughput and latency]({chart_name})")
    add("")
    return out


def _machine(results: dict[str, Any], s: dict[str, Any]) -> list[str]:
    meta, cfg = results["meta"], results["config"]
    small, large = sizes(results)
    gun = meta.get("gunicorn", {})
    out: list[str] = []
    add = out.append
    add("## Machine and settings")
    add("")
    add("| | |")
    add("|---|---|")
    pg_settings = ", ".join(f"{k}={v}" for k, v in meta["postgresql_settings"].items())
    gun_text = ", ".join(f"{k}={v}" for k, v in gun.items()) or "?"
    extra_args = " ".join(cfg["extra_gunicorn_args"])
    seeded = ", ".join(
        f"{size_label(int(k))} licenses in {v:.1f} s" for k, v in results["seed_seconds"].items()
    )
    settled = ", ".join(
        f"{v:.1f} s at {size_label(int(k))}" for k, v in results.get("settle_seconds", {}).items()
    )
    rows = [
        ("CPU", f"{meta['cpu']}, {meta['cpus_online']} CPUs online, {meta['memory']}"),
        ("kernel", meta["kernel"]),
        ("pinning", meta["pinning"]),
        (
            "software",
            f"Python {meta['python']}, Django {meta['django']}, psycopg {meta['psycopg']}",
        ),
        ("PostgreSQL", f"{meta['postgresql']} ({pg_settings}); database {cfg['database']}"),
        ("Redis", f"{meta['redis']}, {cfg['redis']}"),
        (
            "gunicorn",
            f"config file {meta['gunicorn_config_file'] or '(none: --workers 2)'}; {gun_text}"
            + (f"; extra args {extra_args}" if extra_args else ""),
        ),
        ("Django settings", f"`{meta['settings_module']}` (production + the bare view)"),
        (
            "load generator",
            f"{meta['wrk']}; {cfg['wrk_threads']} thread(s), {cfg['wrk_connections']} connections",
        ),
        (
            "rounds",
            f"{cfg['rounds_small']} at {size_label(small)} licenses, "
            f"{cfg['rounds_large']} at {size_label(large)}; each phase "
            f"{cfg['warmup_s']:g} s warm-up + {cfg['duration_s']:g} s measured",
        ),
        ("seeding (COPY)", seeded),
        (
            "then, before measuring",
            "VACUUM (FREEZE, ANALYZE) and CHECKPOINT, as a long-running database would be "
            f"(no autovacuum or first-read hint-bit writes during the rounds): {settled or '?'}",
        ),
    ]
    for name, value in rows:
        add(f"| {name} | {value} |")
    add("")

    return out


def _targets(results: dict[str, Any], s: dict[str, Any]) -> list[str]:
    out: list[str] = []
    add = out.append
    add("## Targets")
    add("")
    add("| target | measured | wanted | |")
    add("|---|---:|---:|---|")
    for name, value, target, result in targets(results, s):
        add(f"| {name} | {value} | {target} | **{result}** |")
    add("")
    add(
        "Ratios are medians of per-round ratios: in each round the phases run one after the "
        "other, and the bare view runs both before and after the hit, so the hit is compared "
        "with the mean of the two bare runs around it (the miss with the bare run just "
        "before it): measurements seconds apart, the machine's drift on both sides."
    )
    add("")
    out += site_check_note(s)

    return out


def site_check_note(s: dict[str, Any]) -> list[str]:
    """(b2) beside the EDD targets, when it ran: not a target, (e)'s like-for-like."""
    if s.get("site_check_vs_bare") is None:
        return []
    return [
        "Beside the EDD targets, not a target: (b2), the product API's check of the same key, "
        "product and site as (e), made by the same read and answered in the product API's "
        f"JSON, ran at {fmt(s['site_check_vs_bare'], '.3f')} × bare; (b), the plain check, is "
        "served as its pre-rendered answer.",
        "",
    ]


def _closed_loop(results: dict[str, Any], s: dict[str, Any]) -> list[str]:
    cfg = results["config"]
    out: list[str] = []
    add = out.append
    add(f"## Closed loop: as fast as the server answers ({cfg['wrk_connections']} connections)")
    add("")
    add(
        "| phase | licenses | req/s (median) | req/s range | p50 ms | p99 ms | vs bare "
        "| worker CPU µs/req | core busy | busiest worker "
        "| SQL xacts/req | key-index scans/req | seq scans/req | non-2xx | socket errors |"
    )
    add("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in s["rows"]:
        if row["paced"]:
            continue
        add(
            f"| {TITLES[row['phase']]} | {size_label(row['size'])} | {fmt(row['rps'], '.0f')} "
            f"| {row['rps_min']:.0f}–{row['rps_max']:.0f} | {fmt(row['p50'])} | {fmt(row['p99'])} "
            f"| {fmt(row['vs_bare'])} | {fmt(row['cpu_us'], '.0f')} | {fmt(row['busy'])} "
            f"| {fmt(row['busiest'])} | {fmt(row['xacts'])} | {fmt(row['key_idx'])} "
            f"| {fmt(row['seq'])} | {row['non_2xx']} | {row['socket_errors']} |"
        )
    pairs_rows = [r for r in s["rows"] if r["phase"] == "pairs" and not r["paced"]]
    if pairs_rows:
        add("")
        add(
            f"(d) counts requests: {fmt((pairs_rows[0]['rps'] or 0) / 2, '.0f')} "
            "activate + deactivate pairs per second (median)."
        )
    missing = [p for p in ("check", "pairs") if not results.get("available", {}).get(p)]
    if missing:
        add("")
        add(
            "Not measured, endpoint not available in this build: "
            + ", ".join(missing)
            + " (probe: "
            + json.dumps({p: results["available"].get(p + "_probe") for p in missing})
            + ")."
        )
    add("")

    return out


def _paced(results: dict[str, Any], s: dict[str, Any]) -> list[str]:
    cfg = results["config"]
    _, large = sizes(results)
    out: list[str] = []
    add = out.append
    add("## Same offered rate (paced)")
    add("")
    rates = results.get("paced_rates", {})
    add(
        f"wrk offers a fixed rate: {cfg['paced_fraction']:g} × what the first round's closed "
        f"loop reached (bare and hit: {rates.get('bare', '–')}/s; miss: {rates.get('miss', '–')}/s "
        "at both dataset sizes)."
    )
    add("")
    add(
        "| phase | licenses | offered req/s | achieved req/s | achieved/offered | p50 ms "
        "| p99 ms | SQL xacts/req | non-2xx |"
    )
    add("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    behind = []
    paced_rows = [(TITLES[row["phase"]], row) for row in s["rows"] if row["paced"]]
    if s["twin_row"] is not None:
        twin_title = f"{TITLES['miss']}, on the twin server during the {size_label(large)} stage"
        paced_rows.append((twin_title, s["twin_row"]))
    for title, row in paced_rows:
        kept = _ratio(row["rps"], row["offered"])
        if kept is not None and kept < KEPT_UP:
            behind.append(f"{title} at {size_label(row['size'])}")
        add(
            f"| {title} | {size_label(row['size'])} | {fmt(row['offered'], '.0f')} "
            f"| {fmt(row['rps'], '.0f')} | {fmt(kept)} | {fmt(row['p50'])} | {fmt(row['p99'])} "
            f"| {fmt(row['xacts'])} | {row['non_2xx']} |"
        )
    if behind:
        add("")
        add(
            f"**Did not keep up** (achieved < {KEPT_UP:g} × offered): "
            + "; ".join(behind)
            + ". Their latencies are those of a saturated server, not of the offered rate."
        )
    add("")

    return out


def _miss_path(results: dict[str, Any], s: dict[str, Any]) -> list[str]:
    small, large = sizes(results)
    out: list[str] = []
    add = out.append
    add(f"## Cache-miss path: {size_label(large)} licenses against {size_label(small)}")
    add("")
    add("| | ratio |")
    add("|---|---:|")
    add(
        "| miss p99, same offered rate, paired: each round's against the twin server's "
        f"{size_label(small)} copy in the same round | {fmt(s['miss_p99_large_vs_twin'])} |"
    )
    add(
        "| miss p99, same offered rate, the two stages' medians (minutes apart) "
        f"| {fmt(s['miss_p99_large_vs_small'])} |"
    )
    add(f"| miss p99, closed loop | {fmt(s['miss_closed_p99_large_vs_small'])} |")
    add(f"| miss throughput, closed loop | {fmt(s['miss_rps_large_vs_small'])} |")
    add(
        "| bare throughput (machine drift between the two stages) "
        f"| {fmt(s['bare_rps_large_vs_small'])} |"
    )
    add("")
    explain = results.get("explain")
    if explain:
        add(
            f"One check miss, run in-process at {size_label(explain['licenses'])} licenses "
            f"(answer {explain['miss_status']}), issued {explain['miss_queries']} SQL "
            f"statement(s) through the ORM; the same check again (a hit, answer "
            f"{explain['hit_status']}) issued {explain['hit_queries']}. (Django's connection "
            "health check, a `SELECT 1` on the first query of a request, bypasses the ORM's "
            "query log: it shows in the xacts/req column above, not here.) Their plans:"
        )
        add("")
        for plan in explain["plans"]:
            add("```sql")
            add(plan["sql"])
            add("```")
            add("```")
            add(plan["plan"])
            add("```")
        add("")

    return out


def _method(results: dict[str, Any], s: dict[str, Any]) -> list[str]:
    cfg = results["config"]
    small, large = sizes(results)
    out: list[str] = []
    add = out.append
    add("## How it is measured")
    add("")
    add(METHOD.format(
        connections=cfg["wrk_connections"], hot=cfg["hot_keys"], flush=cfg["miss_flush_interval_s"],
        pool=cfg["miss_pool_large"], small=size_label(small), large=size_label(large),
        activation=cfg["activation_licenses"],
    ).strip())  # fmt: skip
    add("")

    return out


def _every_run(results: dict[str, Any], s: dict[str, Any]) -> list[str]:
    out: list[str] = []
    add = out.append
    add("## Every run")
    add("")
    add(
        "| phase | licenses | round | offered | req/s | p50 ms | p90 ms | p99 ms | p99.9 ms "
        "| requests | statuses | check cache | db per request |"
    )
    add("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---|")
    for r in results["runs"]:
        lat = r["latency_ms"]
        dbs = r["db_per_request"]
        db_text = ", ".join(f"{k} {v:g}" for k, v in dbs.items()) if dbs else "–"
        statuses = ", ".join(f"{k}: {v}" for k, v in sorted(r["statuses"].items()))
        cache = ", ".join(f"{k}: {v}" for k, v in sorted((r.get("check_cache") or {}).items()))
        add(
            f"| {SHORT[r['phase']]} | {size_label(r['size'])} | {r['round']} "
            f"| {fmt(r['offered_rps'], '.0f')} | {r['rps']:.0f} | {lat['p50']:.2f} "
            f"| {lat['p90']:.2f} | {lat['p99']:.2f} | {lat['p99.9']:.2f} | {r['requests']} "
            f"| {statuses} | {cache or '–'} | {db_text} |"
        )
    add("")

    return out


QUICK_NOTE = " **Quick mode (BENCH_QUICK=1): a smoke run, not a measurement.**"

METHOD = """
- **Server.** gunicorn with the repository's production config file and
  `license_service.settings.bench`: the production settings, plus `/bench/bare` in a
  bench-only URL map, and `SECURE_SSL_REDIRECT` off (plain HTTP on loopback). SECRET_KEY,
  ALLOWED_HOSTS, DATABASE_URL and REDIS_URL come from the environment, as in production;
  the throttle rates are set so high that none answers 429 (the throttles still run, with
  their Redis counters). A database of its own, dropped, migrated and seeded by COPY at the
  start of every run; a Redis database of its own.
- **Load.** Debian's wrk, one thread, {connections} connections, Lua scripts in
  bench/wrk/ (done() prints the latency percentiles as JSON). Every phase has an
  unrecorded warm-up first. wrk measures latency from the moment it sends a request.
- **Closed loop** means wrk sends the next request on a connection as soon as the previous
  answer arrives: the same concurrency for every phase, each at its own saturation
  throughput. Latency then is mostly queueing (about connections ÷ throughput), so p99 is
  compared at a **same offered rate**, where wrk paces requests with its `delay()` hook. That
  is not wrk2: Debian has no wrk2, and when the server falls behind, the wait before sending
  is not counted (coordinated omission). At the offered rates used, well under
  saturation, the server keeps up (compare offered and achieved rates).
- **worker CPU µs/req, core busy, busiest worker**: the gunicorn workers' CPU time (user +
  system, from /proc) during the measurement, per request answered; that time per second
  of measurement (1.00: the pinned core did nothing else for them to wait on); and the
  busiest worker's share of it (0.50: wrk's connections were served evenly by the two
  workers; 1.00: all by one).
- **(a) bare**: a plain Django view returning a constant JSON body the size and shape of a
  check answer, through the same middleware stack: what the framework costs, nothing else.
- **(b) cache hit**: {hot} keys, each asked for once before the phase (so all are cached),
  then walked in turn. Each worker process also keeps hot answers in its own near cache,
  filled by its first checks of each key: the warm-up is repeated (up to 5 times) until at
  least 99% of a warm-up's checks were answered there; the check-cache column shows where
  the measured checks were answered. SQL xacts/req and key-index scans/req come from
  PostgreSQL's own statistics (pg_stat_database, pg_stat_user_tables), read after the
  warm-up and after the measurement: 0 means no request touched the database (SQL xacts
  also count PostgreSQL's autovacuum in that database: hence a stray 0.01). (A backend
  publishes its counts only now and then, but always when it exits: before reading them,
  the harness waits for running requests, then ends the service's idle connections to the
  benchmark database; Django reconnects on its next query, in the next warm-up, or never
  during a phase that needs no SQL.) The check-cache
  column of the last table comes from the service's own /metrics counters.
- **(c) cache miss**: each wrk thread walks its own slice of a shuffled list of distinct
  keys ({small}: every key; {large}: a random sample of up to {pool:,} keys spread over the
  whole table), and the harness empties the benchmark's Redis database before the phase
  and every {flush:g} s during it. A key comes back only after its whole slice has been
  walked, long after the flush that dropped its cached answer, so every request is a real
  miss: cache GET, SQL, cache SET, exactly as in production (no TTL or setting is changed
  for this phase). The key-index scans/req column confirms it (one lookup of the key table
  per request at least). The other choice, a second server with a zero cache TTL, would
  change the production configuration and replace the SET by a DELETE.
- **(d) pairs**: POST /api/v1/product/activate, then POST /api/v1/product/deactivate for
  the same fresh instance identifier, over {activation} licenses with unlimited seats. The
  deactivation is sent only once the activation has answered 200 (wrk reads our
  X-Request-ID back from the response), so the two never race. Req/s counts both.
- **{large} licenses**: after the {small} rounds the same database grows by COPY to {large};
  rounds of (a), (c) closed loop and (c) at the same offered rate as before follow. (a) shows
  how much the machine itself drifted between the two stages. In each of those rounds (c)
  at the same offered rate also runs on a twin server (same config and core) over a copy of
  the {small} database made before the growth, right before or after the {large} one: the
  {large}-against-{small} p99 target compares those same-round pairs.
- The machine has 2 CPUs: gunicorn (master and workers) is pinned to one, wrk and the
  harness to the other; PostgreSQL and Redis are shared services and are not pinned, so
  they take CPU from both. Other work on the machine during the run shows up as spread
  in the req/s range column.
- gunicorn's workers (the gunicorn row above) share the one pinned core. With two, wrk's
  connections land all on one worker in some runs and spread over both in others, and a
  run's throughput moves by up to about 15% with that, whatever the phase: part of the
  spread in the req/s range column (bench/README.md, `BENCH_WORKERS`).
- The database is seeded by COPY, then `VACUUM (FREEZE, ANALYZE)` and `CHECKPOINT`ed
  before any measurement, as a long-running database would be: otherwise autovacuum and
  the first reads' hint-bit writes on the freshly loaded rows run during the rounds.
"""


def chart(results: dict[str, Any], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = summarize(results)
    small, _ = sizes(results)
    closed = [r for r in s["rows"] if not r["paced"] and r["size"] == small]
    paced = [r for r in s["rows"] if r["paced"]]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.8))

    ax = axes[0]
    names = [SHORT[r["phase"]] for r in closed]
    values = [r["rps"] or 0 for r in closed]
    errors = [
        [v - r["rps_min"] for v, r in zip(values, closed, strict=True)],
        [r["rps_max"] - v for v, r in zip(values, closed, strict=True)],
    ]
    colors = ["#888", "#2a7", "#d83", "#37b"][: len(names)]
    ax.bar(names, values, yerr=errors, capsize=4, color=colors)
    bare = next((r["rps"] for r in closed if r["phase"] == "bare"), None)
    if bare:
        ax.axhline(
            HIT_VS_BARE_MIN * bare, ls="--", color="#2a7", lw=1, label=f"{HIT_VS_BARE_MIN} × bare"
        )
        ax.axhline(
            MISS_VS_BARE_MIN * bare, ls=":", color="#d83", lw=1, label=f"{MISS_VS_BARE_MIN} × bare"
        )
        ax.legend(loc="upper right", fontsize=8)
    ax.set_title(f"Throughput, closed loop, {size_label(small)} licenses")
    ax.set_ylabel("requests / s (median, range)")

    ax = axes[1]
    x = range(len(closed))
    ax.bar([i - 0.2 for i in x], [r["p50"] or 0 for r in closed], 0.4, label="p50")
    ax.bar([i + 0.2 for i in x], [r["p99"] or 0 for r in closed], 0.4, label="p99")
    ax.set_xticks(list(x), names)
    ax.set_title("Latency, closed loop")
    ax.set_ylabel("ms (median of rounds)")
    ax.legend(fontsize=8)

    ax = axes[2]
    labels = [f"{SHORT[r['phase']]}\n{size_label(r['size'])}" for r in paced]
    x = range(len(paced))
    ax.bar([i - 0.2 for i in x], [r["p50"] or 0 for r in paced], 0.4, label="p50")
    ax.bar([i + 0.2 for i in x], [r["p99"] or 0 for r in paced], 0.4, label="p99")
    ax.set_xticks(list(x), labels)
    ax.set_title("Latency at a same offered rate")
    ax.set_ylabel("ms (median of rounds)")
    ax.legend(fontsize=8)

    meta = results["meta"]
    fig.suptitle(
        f"{meta['cpu']} · {meta['pinning'].split(';')[0]} · {meta['date']}"
        + (" · QUICK (smoke)" if results["config"]["quick"] else ""),
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write(results: dict[str, Any], out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    data = out_dir / "results.json"
    data.write_text(json.dumps(results, indent=1, default=str) + "\n")
    png = chart(results, out_dir / "results.png")
    md = out_dir / "results.md"
    md.write_text(markdown(results, png.name) + "\n")
    return [md, png, data]


def main() -> None:
    source = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent / "results.json")
    results = json.loads(source.read_text())
    for path in write(results, source.parent):
        print(path)
    print(summary_text(results))


if __name__ == "__main__":
    main()

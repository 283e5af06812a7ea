"""Every benchmark once, every ratio against its target in one table: ``make bench``.

Each benchmark runs in its own process (``python -m bench.<name> ... --json``), one run per store; its figures are
saved as they come (``bench/results/<name>-<time>-<commit>.json``, :func:`bench.common.save_result`), then one
line per measured path is extracted here (:data:`EXTRACTORS`): the figure, the floor it is measured against in the
same run, their ratio and the target. The summary is saved too (``bench/results/all-*.json``) and
``python -m bench.table`` writes the README's performance table from the newest results.

    python -m bench.all [--only bulk_write,rebuild] [--quick] [--demo-store demo/jamsos.db]

``--quick`` runs each at a smaller size (minutes instead of ~half an hour): fine for a look, not for a quote.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from bench.common import REPO, commit, load, machine, save_result
from bench.reconcile import TARGET_LINES

RUN_TIMEOUT_S = 3 * 3600


@dataclass(frozen=True)
class Line:
    """One measured path: ``value`` (higher is better when ``higher_better``) against ``target``."""

    bench: str
    path: str
    value: float
    unit: str
    floor: float | None
    ratio: float | None
    target: float
    target_of: str
    """What the target bounds: ``ratio`` (≥), ``value`` (≤ for times, ≥ for rates)."""
    higher_better: bool

    @property
    def met(self) -> bool:
        measured = self.ratio if self.target_of == "ratio" else self.value
        if measured is None:
            return False
        return measured >= self.target if self.higher_better else measured <= self.target


def _bulk_write(out: dict[str, Any]) -> list[Line]:
    lines = []
    for r in out["results"]:
        target = {"sqlite": 0.5, "postgres": 0.3}[r["store"]]
        if r.get("distinct_states") == 0:
            target = 0.25
        lines.append(Line("bulk_write", f"bulk ingest, {r['store']}, {r['variant']} ({r['members']:,} members)",
                          r["events_per_s"], "ev/s", r["raw_rows_per_s"], r["ratio"], target, "ratio", True))
        for key, what in (("full", "its every row written by the store alone"),
                          ("chain", "its events and chain alone, no snapshot row")):
            if r.get(f"floor_{key}_s"):  # results saved before bench.bulk_floor have none
                lines.append(Line("bulk_write", f"↳ floor, {r['store']}, {r['variant']}: {what}",
                                  r["events"] / r[f"floor_{key}_s"], "ev/s", r["raw_rows_per_s"],
                                  r[f"floor_{key}_ratio"], target, "ratio", True))
    return lines


def _rebuild(out: dict[str, Any]) -> list[Line]:
    return [Line("rebuild", f"rebuild of every view, {r['store']} ({r['events']:,} events)", r["rebuild_events_per_s"],
                 "ev/s", r["raw_events_per_s"], r["ratio"], 0.5, "ratio", True) for r in out["results"]]


def _cli(out: dict[str, Any]) -> list[Line]:
    bare = out["rows"][0]["median_ms"]
    lines = [Line("cli", row["label"], row["median_ms"], "ms", bare, None, row["target_ms"], "value", False)
             for row in out["rows"] if row["target_ms"] is not None]
    if "demo" in out:  # results saved before bench.cli measured the demo have none
        lines.append(Line("cli", "jamsos demo, peak RSS", out["demo"]["peak_rss_mb"], "MB", None, None,
                          out["demo"]["target_mb"], "value", False))
    return lines


def _reconcile(out: dict[str, Any]) -> list[Line]:
    scale = TARGET_LINES / out["lines"]
    label = f"reconcile {out['lines']:,} lines (read + match)" + ("" if scale == 1 else f", scaled to {TARGET_LINES:,}")
    return [Line("reconcile", label, out["read_plus_match_s"] * scale, "s", out["raw_csv_s"] * scale,
                 out["ratio_read_vs_raw"], out["target_s_for_1m"], "value", False)]


def _api(out: dict[str, Any]) -> list[Line]:
    lines = []
    for p in out["payments"]:
        lines.append(Line("api", f"single payments over HTTP vs in process, {p['store']}", p["http"]["per_s"],
                          "req/s", p["in_process"]["per_s"], p["throughput_ratio"], 0.5, "ratio", True))
    return lines


def _single(out: dict[str, Any]) -> list[Line]:
    lines = []
    for r in out["results"]:
        lines.append(Line("single", f"one member payment in process vs the plain library, {r['store']}",
                          r["payments_per_s"], "cmd/s", r["plain_saves_per_s"], r["ratio"], 0.5, "ratio", True))
        if r.get("floor_full_per_s"):  # results saved before the floors have none
            lines.append(Line("single", f"↳ floor, {r['store']}: each payment's rows written by the store alone",
                              r["floor_full_per_s"], "cmd/s", r["plain_saves_per_s"], r["floor_full_ratio"], 0.5,
                              "ratio", True))
        lines.append(Line("single", f"one member payment in process, p99, {r['store']}", r["p99_ms"], "ms", None,
                          None, r["p99_target_ms"], "value", False))
    return lines


EXTRACTORS: dict[str, Callable[[dict[str, Any]], list[Line]]] = {
    "bulk_write": _bulk_write, "rebuild": _rebuild, "single": _single, "cli": _cli, "reconcile": _reconcile,
    "api": _api,
}
"""The benchmarks ``make bench`` runs, in order, and how each one's JSON becomes lines."""


def arguments(name: str, quick: bool, demo_store: str | None) -> list[str]:
    demo = ["--demo-store", demo_store] if demo_store else []
    return {
        "bulk_write": ["--store", "both"] + (["--members", "2000"] if quick else []),
        "rebuild": ["--store", "both"] + (["--events", "100000"] if quick else []),
        "single": ["--store", "both"] + (["--members", "400", "--payments", "300"] if quick else []),
        "cli": ["--no-save", *demo] + (["--runs", "5"] if quick else []),
        "reconcile": ["--lines", "100000" if quick else "1000000"],
        "api": ["--store", "both", "--no-reads"] + (["--payments", "200"] if quick else []),
    }[name]


def run_one(name: str, args: list[str]) -> dict[str, Any]:
    argv = [sys.executable, "-m", f"bench.{name}", *args, "--json"]
    print(f"== {' '.join(argv[1:])}", file=sys.stderr, flush=True)
    proc = subprocess.run(argv, cwd=REPO, stdout=subprocess.PIPE, text=True, timeout=RUN_TIMEOUT_S, check=True)
    figures: dict[str, Any] = json.loads(proc.stdout)
    print(f"   saved {save_result(name, figures)}", file=sys.stderr, flush=True)
    return figures


def print_lines(lines: list[Line]) -> None:
    print(f"{'path':<62} {'measured':>14} {'floor, same run':>16} {'ratio':>6} {'target':>9}  met")
    for ln in lines:
        floor = "" if ln.floor is None else (f"{ln.floor:,.0f}" if ln.floor >= 100 else f"{ln.floor:.2f}")
        ratio = "" if ln.ratio is None else f"{ln.ratio:.2f}"
        bound = ("≥ " if ln.higher_better else "≤ ") + (f"{ln.target:g}" if ln.target_of == "ratio"
                                                        else f"{ln.target:g} {ln.unit}")
        print(f"{ln.path:<62} {ln.value:>10,.1f} {ln.unit:<3} {floor:>16} {ratio:>6} {bound:>9}  "
              f"{'yes' if ln.met else 'NO'}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default=",".join(EXTRACTORS), help="comma-separated benchmarks to run")
    parser.add_argument("--quick", action="store_true", help="smaller sizes: a look, not a quote")
    parser.add_argument("--demo-store", default=None, help="a demo store for the CLI reads (else demo/jamsos.db "
                        "or a fresh demo)")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = sorted(set(names) - set(EXTRACTORS))
    if unknown:
        parser.error(f"--only: unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(EXTRACTORS)}")
    lines: list[Line] = []
    for name in names:
        lines += EXTRACTORS[name](run_one(name, arguments(name, args.quick, args.demo_store)))
    summary = {"commit": commit(), "machine": machine(), "load_after": load(), "quick": args.quick,
               "lines": [asdict(ln) | {"met": ln.met} for ln in lines]}
    print(f"saved {save_result('all', summary)}", file=sys.stderr)
    print(f"# {summary['machine']}, commit {summary['commit']}, load after {summary['load_after']}")
    print_lines(lines)


if __name__ == "__main__":
    main()

"""CLI start-up benchmark: whole `jamsos` commands, wall time, beside ``python -c pass`` in the same run.

Targets: ``jamsos --help`` ≤ 150 ms; a report on the demo store ≤ 400 ms. Each command runs ``--runs`` times
(after one warm-up run that fills the bytecode and page caches); the median and the slowest run are printed, and
the excess over bare Python (what the project itself costs). The reports run on a copy of the demo store
(``--demo-store``; else ``demo/jamsos.db``; else a fresh demo, ~70 s): as the local user, and once as an auditor
with a token (a principal added to the copy, the read models caught up after it), the path a remote reader takes.
``import sqlalchemy`` is timed beside them: the floor of any report read through SQLAlchemy.

    python -m bench.cli [--runs 15] [--demo-store demo/jamsos.db] [--json] [--no-save]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import child, commit, copy_store, demo_store, load, machine, save_result

RUNS = 15
HELP_TARGET_MS = 150.0
REPORT_TARGET_MS = 400.0
DEMO_RSS_TARGET_MB = 500.0
"""The issue's target for ``jamsos demo``'s peak RSS (843 MB when it was filed)."""
RUN_TIMEOUT_S = 120.0
JAMSOS = [sys.executable, "-m", "cli"]
"""``python -m cli`` is the console script without its wrapper (the same ``cli.app.main``)."""


def wall_ms(argv: list[str], cwd: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          timeout=RUN_TIMEOUT_S, check=False)
    elapsed_ms = (time.perf_counter() - started) * 1000
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode}: {proc.stderr.decode()[-400:]}")
    return elapsed_ms


def measure(label: str, argv: list[str], runs: int, cwd: Path, env: dict[str, str],
            target_ms: float | None) -> dict[str, Any]:
    wall_ms(argv, cwd, env)  # warm-up
    times = [wall_ms(argv, cwd, env) for _ in range(runs)]
    row = {"label": label, "command": " ".join(argv[1:] if argv[0] == sys.executable else argv),
           "median_ms": round(statistics.median(times), 1), "max_ms": round(max(times), 1), "runs": runs,
           "target_ms": target_ms}
    print(f"  {label:<42} median {row['median_ms']:7.1f} ms  max {row['max_ms']:7.1f} ms", file=sys.stderr)
    return row


def run(store: Path, runs: int) -> dict[str, Any]:
    env = {**os.environ, "COLUMNS": "100", "JAMSOS_STORE": str(store)}
    env.pop("JAMSOS_TOKEN", None)
    # the warm-up run fills the bytecode cache, as a user's first command does; a shell that sets
    # PYTHONDONTWRITEBYTECODE (this sandbox does) would compile every module of the project on every run (~80 ms)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    cwd = store.parent
    python = [sys.executable]
    added = subprocess.run([*JAMSOS, "principal", "add", "bench-auditor", "--role", "auditor", "--json"], cwd=cwd,
                           env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=True)
    token = json.loads(added.stdout)["token"]
    wall_ms([*JAMSOS, "report", "members", "--json"], cwd, env)  # the read models catch up with the principal
    rows = [
        measure("python -c pass", [*python, "-c", "pass"], runs, cwd, env, None),
        measure("import sqlalchemy", [*python, "-c", "import sqlalchemy"], runs, cwd, env, None),
        measure("import cli.app", [*python, "-c", "import cli.app"], runs, cwd, env, None),
        measure("jamsos --help", [*JAMSOS, "--help"], runs, cwd, env, HELP_TARGET_MS),
        measure("jamsos report --help", [*JAMSOS, "report", "--help"], runs, cwd, env, None),
        measure("jamsos report members --json", [*JAMSOS, "report", "members", "--json"], runs, cwd, env,
                REPORT_TARGET_MS),
        measure("jamsos report members --json (token)", [*JAMSOS, "--token", token, "report", "members", "--json"],
                runs, cwd, env, REPORT_TARGET_MS),
        measure("jamsos report balances --json", [*JAMSOS, "report", "balances", "--json"], runs, cwd, env,
                REPORT_TARGET_MS),
        measure("jamsos report claims --json", [*JAMSOS, "report", "claims", "--json"], runs, cwd, env,
                REPORT_TARGET_MS),
        measure("jamsos report coverage --json", [*JAMSOS, "report", "coverage", "--json"], runs, cwd, env,
                REPORT_TARGET_MS),
        measure("jamsos agreement show --json", [*JAMSOS, "agreement", "show", "SKW-RENTAN-2025", "--json"], runs,
                cwd, env, REPORT_TARGET_MS),
    ]
    bare_ms = rows[0]["median_ms"]
    for row in rows:
        row["over_python_ms"] = round(row["median_ms"] - bare_ms, 1)
        row["met"] = None if row["target_ms"] is None else row["median_ms"] <= row["target_ms"]
    return {"commit": commit(), "machine": machine(), "load": load(), "store": "SQLite demo", "rows": rows,
            "demo": demo_peak(env)}


def demo_peak(env: dict[str, str]) -> dict[str, Any]:
    """One ``jamsos demo`` into a fresh directory: its wall time and peak RSS (its own, through
    :func:`bench.common.child`), against :data:`DEMO_RSS_TARGET_MB`."""
    clean = {k: v for k, v in env.items() if k != "JAMSOS_STORE"}
    with tempfile.TemporaryDirectory(prefix="jamsos-bench-demo-") as folder:
        ran = child([*JAMSOS, "demo", "--store", str(Path(folder) / "jamsos.db")], cwd=Path(folder), env=clean)
    if ran["exit"]:
        raise RuntimeError(f"jamsos demo exited {ran['exit']}: {ran.get('stderr', '')}")
    peak_mb = ran["peak_rss_bytes"] / 2**20
    print(f"  {'jamsos demo':<42} {ran['wall_s']:7.1f} s  peak RSS {peak_mb:,.0f} MB", file=sys.stderr)
    return {"wall_s": ran["wall_s"], "peak_rss_mb": round(peak_mb, 1), "target_mb": DEMO_RSS_TARGET_MB,
            "met": peak_mb < DEMO_RSS_TARGET_MB}


def print_table(out: dict[str, Any]) -> None:
    print(f"CLI start-up, commit {out['commit']}, {out['machine']}, load {out['load']}")
    print(f"{'command':<42} {'median ms':>10} {'max ms':>9} {'over python':>12} {'target':>8}  met")
    for row in out["rows"]:
        target = "" if row["target_ms"] is None else f"{row['target_ms']:.0f}"
        met = "" if row["met"] is None else ("yes" if row["met"] else "NO")
        print(f"{row['label']:<42} {row['median_ms']:>10.1f} {row['max_ms']:>9.1f} {row['over_python_ms']:>12.1f} "
              f"{target:>8}  {met}")
    demo = out["demo"]
    print(f"jamsos demo: {demo['wall_s']:.1f} s, peak RSS {demo['peak_rss_mb']:,.0f} MB (target < "
          f"{demo['target_mb']:.0f} MB: {'met' if demo['met'] else 'NOT met'})")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=RUNS, help=f"timed runs per command (default {RUNS})")
    parser.add_argument("--demo-store", default=None, help="a demo store to copy (default: demo/jamsos.db when it "
                        "exists, else a fresh `jamsos demo`)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--no-save", action="store_true", help="do not write bench/results/cli-*.json")
    args = parser.parse_args(argv)
    with demo_store(args.demo_store) as given, tempfile.TemporaryDirectory(prefix="jamsos-bench-cli-") as work:
        out = run(copy_store(given, Path(work)), max(1, args.runs))
    if not args.no_save:
        print(f"saved {save_result('cli', out)}", file=sys.stderr)
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print_table(out)


if __name__ == "__main__":
    main()

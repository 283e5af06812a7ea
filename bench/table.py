"""The README's performance table, written from the newest saved results (never typed by hand).

For each measured path, the newest line among ``bench/results/all-*.json`` (``make bench``) that measured it; runs
with ``--quick`` only when no full run measured the path. The table goes between the README's markers
``<!-- bench:table:start -->`` and ``<!-- bench:table:end -->``; with ``--check`` nothing is written and the exit
code says whether the README is current.

    python -m bench.table [--check]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from bench.common import REPO, RESULTS

START = "<!-- bench:table:start -->"
END = "<!-- bench:table:end -->"
README = REPO / "README.md"


def newest_lines(folder: Path = RESULTS) -> list[dict[str, Any]]:
    """One line per path: the newest full run's, else the newest quick run's; each with its run's commit, date
    and load."""
    chosen: dict[str, tuple[tuple[bool, str], dict[str, Any]]] = {}
    newest: tuple[tuple[bool, int, str], list[str]] | None = None
    for path in sorted(folder.glob("all-*.json")):
        run = json.loads(path.read_text(encoding="utf-8"))
        rank = (not run.get("quick", False), run["date"])
        widest = (not run.get("quick", False), len(run["lines"]), run["date"])
        if newest is None or widest >= newest[0]:
            newest = (widest, [line["path"] for line in run["lines"]])
        for line in run["lines"]:
            line = {**line, "commit": run["commit"], "date": run["date"][:10], "load": run.get("load_after"),
                    "quick": run.get("quick", False)}
            if line["path"] not in chosen or rank >= chosen[line["path"]][0]:
                chosen[line["path"]] = (rank, line)
    # in the order of the newest of the full runs that measured the most paths (a path it did not measure comes after)
    order = {p: i for i, p in enumerate(newest[1])} if newest else {}
    seen = list(chosen)
    return [line for _, line in sorted(chosen.values(),
                                       key=lambda c: (order.get(c[1]["path"], len(order)), seen.index(c[1]["path"])))]


def _number(value: float, unit: str) -> str:
    return f"{value:,.0f} {unit}" if value >= 100 else f"{value:,.2f} {unit}"


def render(lines: list[dict[str, Any]]) -> str:
    if not lines:
        return "No saved results yet: run `make bench`."
    out = ["| path | measured | floor, same run | ratio | target | met | run |", "|---|---|---|---|---|---|---|"]
    for ln in lines:
        floor = "" if ln["floor"] is None else _number(ln["floor"], ln["unit"] if ln["unit"] == "ms" else "")
        ratio = "" if ln["ratio"] is None else f"{ln['ratio']:.2f}"
        sign = "≥" if ln["higher_better"] else "≤"
        target = f"{sign} {ln['target']:g}" + ("" if ln["target_of"] == "ratio" else f" {ln['unit']}")
        run = f"{ln['commit']}, {ln['date']}, load {ln['load'][0] if ln['load'] else '?'}" + (
            ", quick" if ln["quick"] else "")
        out.append(f"| {ln['path']} | {_number(ln['value'], ln['unit'])} | {floor.strip()} | {ratio} | {target} | "
                   f"{'yes' if ln['met'] else '**no**'} | {run} |")
    return "\n".join(out)


def with_table(readme: str, table: str) -> str:
    if START not in readme or END not in readme:
        raise SystemExit(f"README.md lacks the markers {START} and {END}")
    head, rest = readme.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{table}\n{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when the README's table is not current")
    args = parser.parse_args(argv)
    readme = README.read_text(encoding="utf-8")
    lines = newest_lines()
    updated = with_table(readme, render(lines))
    if args.check:
        return 0 if updated == readme else 1
    README.write_text(updated, encoding="utf-8")
    print(f"README.md: {len(lines)} paths", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

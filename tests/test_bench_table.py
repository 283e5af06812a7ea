"""The README's performance table comes from saved results: the newest full run of each path wins over older runs
and over quick runs, a target not met reads **no**, and the table lands between the markers only."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bench.table import END, START, newest_lines, render, with_table


def line(path: str, value: float, met: bool) -> dict[str, Any]:
    return {"bench": "cli", "path": path, "value": value, "unit": "ms", "floor": 30.0, "ratio": None,
            "target": 150.0, "target_of": "value", "higher_better": False, "met": met}


def save(folder: Path, name: str, date: str, quick: bool, lines: list[dict[str, Any]]) -> None:
    record = {"bench": "all", "commit": name, "date": date, "load_after": [1.0, 1.0, 1.0], "quick": quick,
              "lines": lines}
    (folder / f"all-{name}.json").write_text(json.dumps(record), encoding="utf-8")


def test_the_newest_full_run_of_each_path_is_shown(tmp_path: Path) -> None:
    save(tmp_path, "old", "2026-12-01T00:00:00+00:00", False, [line("help", 900.0, False), line("report", 5.0, True)])
    save(tmp_path, "new", "2026-12-02T00:00:00+00:00", False, [line("help", 100.0, True)])
    save(tmp_path, "quick", "2026-12-03T00:00:00+00:00", True, [line("help", 120.0, True), line("other", 1.0, True)])
    chosen = {ln["path"]: ln for ln in newest_lines(tmp_path)}
    assert chosen["help"]["commit"] == "new"  # newer than "old", full unlike "quick"
    assert chosen["report"]["commit"] == "old"  # no newer run measured it
    assert chosen["other"]["commit"] == "quick" and chosen["other"]["quick"]
    table = render(list(chosen.values()))
    assert "| help | 100 ms |" in table and "| report | 5.00 ms |" in table
    assert "quick |" in table.splitlines()[-1]


def test_a_target_not_met_reads_no_and_the_table_replaces_only_its_block() -> None:
    table = render([{**line("help", 900.0, False), "commit": "c", "date": "2026-12-01", "load": [2.0], "quick": False}])
    assert "**no**" in table and "≤ 150 ms" in table
    readme = f"before\n{START}\nold table\n{END}\nafter\n"
    assert with_table(readme, table) == f"before\n{START}\n{table}\n{END}\nafter\n"
    with pytest.raises(SystemExit):
        with_table("no markers", table)

"""One report as known at two instants, cell by cell: what the audit page's comparison (``/audit/compare``) shows.

Two documents of the same report (built with ``as_of`` = T1 and T2, the same ``on`` and agreement) are lined up
section by section: a row is identified by its leading label columns (as many as make it unique in its section), a
cell is one value column of one row. A row only one side has is a row of cells that differ ("–" on the other).

Invariants:
- Every cell of either document appears exactly once; a cell is marked different exactly when the two values are
  not equal (no tolerance: the ledger's figures are whole rupiah and counts).
- Nothing here reads the store: the page builds both documents through :func:`api.web.reading.report`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from api.web.i18n import decimal

MISSING = object()
"""A cell one side does not have (its row is not in that document)."""


@dataclass(frozen=True, slots=True)
class Cell:
    """One value of the report at T1 and at T2 (``MISSING`` where that side has no such row)."""

    section: str
    row: str
    column: str
    first: Any
    second: Any

    @property
    def differs(self) -> bool:
        return self.first is MISSING or self.second is MISSING or self.first != self.second


def _rows(document: dict[str, Any], section: str) -> tuple[list[str], list[Sequence[Any]]]:
    found = document.get("sections", {}).get(section) or {"columns": [], "rows": []}
    return list(found["columns"]), list(found["rows"])


def _key_width(columns: list[str], *row_sets: list[Sequence[Any]]) -> int:
    """How many leading columns identify a row: the leading text columns, then more until each set is unique."""
    rows = [r for rs in row_sets for r in rs]
    width = 0
    while width < len(columns) and all(r[width] is None or isinstance(r[width], str) for r in rows):
        width += 1
    width = max(width, 1)
    while width < len(columns) and any(len({tuple(r[:width]) for r in rs}) < len(rs) for rs in row_sets):
        width += 1
    return min(width, max(len(columns) - 1, 1))


def _keyed(rows: list[Sequence[Any]], width: int) -> dict[tuple[Any, ...], Sequence[Any]]:
    """Rows by key; a key still repeated (identical labels) gets its occurrence number."""
    out: dict[tuple[Any, ...], Sequence[Any]] = {}
    for row in rows:
        key = tuple(row[:width])
        n = 1
        while (key if n == 1 else (*key, n)) in out:
            n += 1
        out[key if n == 1 else (*key, n)] = row
    return out


def _label(key: tuple[Any, ...]) -> str:
    return " · ".join("–" if k is None else str(k) for k in key)


def compare(first: dict[str, Any], second: dict[str, Any]) -> list[Cell]:
    """Every cell of the totals and of each section, in the first document's order (rows only the second has
    follow those of the first)."""
    cells: list[Cell] = []
    totals_a, totals_b = first.get("totals") or {}, second.get("totals") or {}
    for name in [*totals_a, *(k for k in totals_b if k not in totals_a)]:
        cells.append(Cell("totals", "", name, totals_a.get(name, MISSING), totals_b.get(name, MISSING)))
    names = [*first.get("sections", {}), *(s for s in second.get("sections", {}) if s not in first.get("sections", {}))]
    for section in names:
        columns_a, rows_a = _rows(first, section)
        columns_b, rows_b = _rows(second, section)
        columns = columns_a or columns_b
        if columns_b and columns_b != columns:  # a report's columns do not change with as_of; if they did, say so
            cells.append(Cell(section, "", "columns", ", ".join(columns), ", ".join(columns_b)))
            continue
        width = _key_width(columns, rows_a, rows_b)
        keyed_a, keyed_b = _keyed(rows_a, width), _keyed(rows_b, width)
        for key in [*keyed_a, *(k for k in keyed_b if k not in keyed_a)]:
            row_a, row_b = keyed_a.get(key), keyed_b.get(key)
            for i, column in enumerate(columns[width:], start=width):
                cells.append(Cell(section, _label(key), column, MISSING if row_a is None else row_a[i],
                                  MISSING if row_b is None else row_b[i]))
    return cells


def formatter(rupiah: Callable[[int | None], str], number: Callable[[int | None], str],
              percent: Callable[[Any, int], str], lang: str, yes: str, no: str) -> Callable[[str, Any], str]:
    """How a cell is written: money as rupiah (``_rp``), shares as percent (``_pct``), counts with dots."""

    def write(column: str, value: Any) -> str:
        if value is MISSING or value is None:
            return "–"
        if isinstance(value, bool):
            return yes if value else no
        if column.endswith("_rp") and isinstance(value, int):
            return rupiah(value)
        if column.endswith("_pct") and isinstance(value, int | float):
            return percent(value, 1)
        if isinstance(value, int):
            return number(value)
        if isinstance(value, float):
            return decimal(value, 2, lang)
        return str(value)

    return write

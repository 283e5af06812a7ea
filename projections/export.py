"""Writing reports for finance: CSV files for machines (one per section, one for the totals, one header row
each) and an XLSX workbook for people (``projections.workbook``).

A report is ``{"report", "on", "as_of", "generated_at", "agreement", "position", "sections", "totals"}``
(``projections.reports``).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from eventstore.files import private_dir, private_file
from ledger.escapes import spreadsheet_text
from projections.workbook import write_xlsx

__all__ = ["csv_files", "csv_text", "section_csv", "section_names", "write_csv", "write_xlsx"]


# --- CSV: one file per section, one header row each -------------------------------------------------


def csv_files(report: dict[str, Any]) -> dict[str, tuple[list[str], list[list[Any]]]]:
    """File name → (header, rows): ``<report>.<section>.csv`` per section and ``<report>.totals.csv`` (one row:
    the report's identity, then its totals)."""
    name = report["report"]
    out = {f"{name}.{section}.csv": (list(s["columns"]), [list(r) for r in s["rows"]])
           for section, s in report["sections"].items()}
    about = {"report": name, "on": report["on"], "zone": report.get("zone"), "as_of": report["as_of"],
             "generated_at": report["generated_at"],
             "agreement": report.get("agreement"), "period": report.get("period"), "position": report["position"]}
    row = {**about, **report["totals"]}
    out[f"{name}.totals.csv"] = (list(row), [list(row.values())])
    return out


def _plain(value: Any) -> Any:
    """Machine-readable: no separators, ISO dates as the report has them, JSON's true/false, empty for none; text
    through ``ledger.text.spreadsheet_text``; numbers stay numbers (``-16800`` is not defused)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):  # control characters escaped, a formula defused (docs/rules.md#text-output)
        return spreadsheet_text(value)
    return value


def csv_text(header: list[str], rows: Iterable[list[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([_plain(v) for v in row] for row in rows)
    return buffer.getvalue()


def write_csv(report: dict[str, Any], directory: Path) -> list[Path]:
    """Write every section and the totals into ``directory`` (created if missing; files of the same names are
    replaced, others left alone), UTF-8. Returns the paths written."""
    private_dir(directory)  # docs/rules.md#file-modes
    written = []
    for file_name, (header, rows) in csv_files(report).items():
        path = directory / file_name
        private_file(path)
        path.write_text(csv_text(header, rows), encoding="utf-8")
        written.append(path)
    return written


def section_names(report: dict[str, Any]) -> list[str]:
    return [*report["sections"], "totals"]


def section_csv(report: dict[str, Any], section: str) -> str:
    """One section (or ``totals``) as CSV text; KeyError for a name ``section_names`` does not list."""
    return csv_text(*csv_files(report)[f"{report['report']}.{section}.csv"])

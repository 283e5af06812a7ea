"""Writing reports for finance: CSV (one file, a section column) and XLSX (a sheet per section)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

RUPIAH_FORMAT = '"Rp"#,##0'


def write_csv(report: dict[str, Any], path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        for name, section in report["sections"].items():
            writer.writerow(["section", *section["columns"]])
            for row in section["rows"]:
                writer.writerow([name, *row])


def write_xlsx(report: dict[str, Any], path: Path) -> None:
    """A real workbook: one sheet per section, typed numeric cells, rupiah columns formatted, totals sheet."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    summary = wb.active
    assert summary is not None
    summary.title = "totals"
    summary.append(["report", report["report"]])
    summary.append(["on", report["on"]])
    summary.append(["as_of", report["as_of"] or "now"])
    summary.append(["log position", report["position"]])
    for key, value in report["totals"].items():
        summary.append([key, value])
        if key.endswith("_rp"):
            summary.cell(row=summary.max_row, column=2).number_format = RUPIAH_FORMAT
    for name, section in report["sections"].items():
        sheet = wb.create_sheet(title=name[:31])
        sheet.append(section["columns"])
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        for row in section["rows"]:
            sheet.append(row)
        for index, column in enumerate(section["columns"], start=1):
            if column.endswith("_rp"):
                for (cell,) in sheet.iter_rows(min_row=2, min_col=index, max_col=index):
                    cell.number_format = RUPIAH_FORMAT
            sheet.column_dimensions[cell_letter(index)].width = max(12, len(column) + 2)
    wb.save(path)


def cell_letter(index: int) -> str:
    from openpyxl.utils import get_column_letter

    return str(get_column_letter(index))

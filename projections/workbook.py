"""A report as an XLSX workbook finance can open and read: ``totals`` first, then a sheet per section.

Each sheet: a title block (which report, ``--on``, the recorded time and the log position), a frozen header row
with a filter, typed cells (``projections.cells``: money, percentages, dates, counts, Indonesian formats), every
column as wide as what LibreOffice shows in it (never ``###``), A4 landscape, one page wide, the header row on
every page. Invariants: the header is row ``HEADER_ROW``; data rows follow it; the filter spans the table.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from eventstore.files import private_file
from ledger.business_time import WIB
from ledger.values import format_count
from projections.cells import (
    FONT_NAME,
    FONT_SIZE,
    NUMBER_FORMATS,
    NUMERIC_KINDS,
    Kind,
    cell_value,
    kind_of,
    label,
    needed_width,
    shown,
    wrapped,
    wrapped_lines,
)

HEADER_ROW = 4
"""Rows 1-2: the title block; row 3 blank; row 4 the table's header."""
TEXT_INDENT = 1
"""Text (and every header) sits one indent (1.5 units) in from the left, so it never touches the number that
ends at the right edge of the column before it (LibreOffice draws no indent for right-aligned numbers)."""
SPARE = 1.0
"""Units left empty beyond what LibreOffice needs for a column's widest cell."""
FILTER_BUTTON = 3.0
"""Units the filter button takes at the right of a header cell on screen."""
MIN_WIDTH, MAX_WIDTH = 6.0, 70.0
"""A column is never narrower or wider (units); longer text wraps inside it."""
HEADER_LINES_MAX = 2
LINE_HEIGHT_PT = 13.0
"""One line of 10 pt DejaVu Sans (LibreOffice's default row is 12.8 pt)."""


def cell_need(kind: Kind, value: Any) -> float:
    """The narrowest column (units) in which LibreOffice shows this cell whole (numbers: else ``###``)."""
    return needed_width(shown(kind, value), 0 if kind in NUMERIC_KINDS else TEXT_INDENT)


def header_need(text: str) -> float:
    return needed_width(text, TEXT_INDENT, bold=True) + FILTER_BUTTON


def column_layout(column: str, needs: Iterable[float]) -> tuple[float, list[str]]:
    """A column's width (units) and its header's lines: every cell gets what it ``needs`` plus ``SPARE``; the
    header wraps at spaces, into at most ``HEADER_LINES_MAX`` lines where a wider column allows it."""
    text = label(column)
    width = max(max(needs, default=0.0) + SPARE, *(header_need(w) for w in text.split(" ")), MIN_WIDTH)
    while len(_header_lines(text, width)) > HEADER_LINES_MAX and width < header_need(text):
        width += 0.5
    width = min(width, MAX_WIDTH)
    return width, _header_lines(text, width)


def _header_lines(text: str, width: float) -> list[str]:
    return wrapped(text, width, TEXT_INDENT, bold=True, reserve=FILTER_BUTTON)


def title(report: dict[str, Any], section: str | None = None) -> tuple[str, str]:
    """Which report (and sheet), then when: ``--on``, the recorded time (``--as-of``, else when the report was
    built) and the log position, as the ISO values the command takes, so that it can be run again."""
    scope = f" — {report['agreement']}" if report.get("agreement") else ""
    period = f", period {report['period']}" if report.get("period") else ""
    head = f"{report['report']} report{scope}{period}" + (f": {section}" if section else "")
    if report["as_of"]:
        recorded = f"as recorded by {_timestamp(report['as_of'])} (--as-of)"
    else:
        recorded = f"as of {_timestamp(report['generated_at'])} (when built; no --as-of)"
    zone = f" ({report['zone']})" if report.get("zone") else ""
    return head, f"on {report['on']}{zone} · {recorded} · log position {format_count(report['position'])}"


def _timestamp(iso: str) -> str:
    return datetime.fromisoformat(iso).astimezone(WIB).isoformat(timespec="seconds")


def write_xlsx(report: dict[str, Any], path: Path) -> None:
    """Write the workbook: ``totals`` (a total and its value per row), then one sheet per section."""
    from openpyxl import Workbook

    wb = Workbook()
    _default_font(wb)
    sheet = wb.active
    assert sheet is not None
    sheet.title = "totals"
    _table(sheet, report, None, ["total", "value"],
           [[(Kind.TEXT, label(k)), (kind_of(k, [v]), v)] for k, v in report["totals"].items()])
    for name, section in report["sections"].items():
        kinds = [kind_of(c, [r[i] for r in section["rows"]]) for i, c in enumerate(section["columns"])]
        _table(wb.create_sheet(title=name[:31]), report, name, list(section["columns"]),
               [list(zip(kinds, r, strict=True)) for r in section["rows"]])
    private_file(path)  # docs/rules.md#file-modes
    wb.save(path)


def _default_font(wb: Any) -> None:
    """The workbook's default font (the Normal style, font 0): column widths count in its digit widths, in
    Excel and LibreOffice alike, so every cell uses it too. openpyxl has no public setter for it."""
    from openpyxl.styles import Font
    from openpyxl.utils.indexed_list import IndexedList

    font = Font(name=FONT_NAME, sz=FONT_SIZE, family=2)
    wb._fonts = IndexedList([font])
    wb._named_styles["Normal"].font = font


def _table(sheet: Any, report: dict[str, Any], section: str | None, columns: list[str],
           rows: list[list[tuple[Kind, Any]]]) -> None:
    """Title block, header, then the rows, each cell given with its kind; then widths, filter, page set-up."""
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
    from openpyxl.utils import get_column_letter

    head, when = title(report, section)
    sheet.append([head])
    sheet.cell(row=1, column=1).font = Font(name=FONT_NAME, sz=FONT_SIZE + 3, bold=True)
    sheet.append([when])
    sheet.append([])
    layouts = [column_layout(c, [cell_need(*row[i]) for row in rows]) for i, c in enumerate(columns)]
    sheet.append(["\n".join(lines) for _, lines in layouts])  # the breaks written in: LibreOffice breaks there
    bold, fill = Font(name=FONT_NAME, sz=FONT_SIZE, bold=True), PatternFill("solid", fgColor="DDE4EE")
    rule = Border(bottom=Side(style="thin", color="6B7A90"))
    for index in range(1, len(columns) + 1):
        cell = sheet.cell(row=HEADER_ROW, column=index)
        cell.font, cell.fill, cell.border = bold, fill, rule
        cell.alignment = Alignment(horizontal="left", vertical="bottom", indent=TEXT_INDENT, wrap_text=True)
    sheet.row_dimensions[HEADER_ROW].height = LINE_HEIGHT_PT * max(len(lines) for _, lines in layouts) + 3
    number = Alignment(horizontal="right", vertical="top")
    for r, row in enumerate(rows, start=HEADER_ROW + 1):
        sheet.append([cell_value(kind, value) for kind, value in row])
        lines = 1
        for index, (kind, value) in enumerate(row, start=1):
            if value is None:
                continue
            cell = sheet.cell(row=r, column=index)
            if cell.data_type == "f":  # text is never a formula: openpyxl reads a leading = as one
                cell.data_type = "s"
            cell.number_format = NUMBER_FORMATS[kind]
            if kind in NUMERIC_KINDS:
                cell.alignment = number
                continue
            width = layouts[index - 1][0]
            wrap = cell_need(kind, value) > width
            cell.alignment = Alignment(horizontal="left", vertical="top", indent=TEXT_INDENT, wrap_text=wrap)
            if wrap:
                lines = max(lines, wrapped_lines(shown(kind, value), width, TEXT_INDENT))
        if lines > 1:  # LibreOffice does not grow a row for wrapped text on opening a workbook
            sheet.row_dimensions[r].height = LINE_HEIGHT_PT * lines + 2
    for index, (width, _) in enumerate(layouts, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = round(width, 2)
    sheet.freeze_panes = f"A{HEADER_ROW + 1}"
    sheet.auto_filter.ref = f"A{HEADER_ROW}:{get_column_letter(len(columns))}{HEADER_ROW + len(rows)}"
    sheet.print_title_rows = f"{HEADER_ROW}:{HEADER_ROW}"
    setup = sheet.page_setup
    setup.orientation, setup.paperSize = "landscape", sheet.PAPERSIZE_A4
    setup.fitToWidth, setup.fitToHeight = 1, 0
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
    sheet.page_margins.left = sheet.page_margins.right = 0.5
    sheet.page_margins.top = sheet.page_margins.bottom = 0.6
    sheet.oddFooter.center.text = "&A — page &P of &N"
    sheet.oddFooter.center.size = 8


def read_table(sheet: Any) -> tuple[list[str], list[list[Any]]]:
    """A sheet this module wrote, read back: its header labels (line breaks as spaces) and its data rows."""
    header = [str(c.value).replace("\n", " ") for c in sheet[HEADER_ROW]]
    rows = [list(r) for r in sheet.iter_rows(min_row=HEADER_ROW + 1, values_only=True)]
    return header, rows

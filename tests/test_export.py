"""Exports finance can open and read (issue 10, section 5): typed cells in Indonesian formats, every column as wide as
what LibreOffice shows in it, a title block, a frozen filtered header, A4 landscape; one CSV per section.

The widths are checked here against the full-size figures of the demo (synthetic report dicts of its shapes);
``tests/test_export_libreoffice.py`` renders real workbooks in LibreOffice.
"""

from __future__ import annotations

import csv
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from projections.cells import NUMBER_FORMATS, Kind, cell_value, kind_of, label, needed_width, shown, text_width
from projections.export import section_csv, section_names, write_csv, write_xlsx
from projections.workbook import HEADER_ROW, read_table

GENERATED = "2026-11-20T03:05:03.123456+00:00"


def report(name: str, sections: dict[str, tuple[list[str], list[list[Any]]]], totals: dict[str, Any],
           agreement: str | None = None, as_of: str | None = None) -> dict[str, Any]:
    return {"report": name, "on": "2026-11-20", "as_of": as_of, "generated_at": GENERATED, "agreement": agreement,
            "position": 1_188_564, "sections": {k: {"columns": c, "rows": r} for k, (c, r) in sections.items()},
            "totals": totals}


BIG = 2_459_520_000  # the demo's largest rupiah figure in a row (billed, Bengkayang)
HUGE = 922_434_766_000  # a trial balance 40 × the demo's


def full_size_reports() -> dict[str, dict[str, Any]]:
    """Every report's shape with the widest values the demo has, and wider (the issue's ``###`` cells)."""
    accounts = [[f"{a}:{code}", "liability", "credit", HUGE, BIG, -HUGE]
                for a in ("billed", "receivable", "refunds-payable") for code in ("PNK-SOSIAL-2025", "PNK-SOSIAL-2026")]
    months = [[f"2026-{m:02d}", 15_747, BIG, f"INV-PNK-SOSIAL-2026-2026-{m:02d}", BIG, BIG, BIG, -BIG, BIG]
              for m in range(1, 13)]
    return {
        "trial-balance": report("trial-balance", {
            "accounts": (["account", "type", "normal", "debit_rp", "credit_rp", "balance_rp"],
                         [*accounts, ["bank:benefits", "asset", "debit", 0, 3_422_000_000, -3_422_000_000]]),
            "funds": (["programme", "in_rp", "out_rp", "local_net_rp"], [["JKK", HUGE, BIG, HUGE - BIG]])},
            {"debit_rp": HUGE * 10, "credit_rp": HUGE * 10, "difference_rp": 0, "accounts": 28}),
        "reconciliation": report("reconciliation", {
            "budget": (["agreement", "payer", "budget_rp", "expected_window_rp", "share_pct", "status"],
                       [["PNK-SOSIAL-2026", "PEMKOT-PNK", 2_429_520_000, BIG, 101.2, "OVER_BUDGET"]]),
            "months": (["period", "expected_members", "expected_rp", "invoice", "billed_rp", "paid_rp",
                        "received_rp", "billed_minus_expected_rp", "billed_minus_received_rp"], months),
            "open_exceptions": (["statement", "line", "kind", "amount_rp", "status", "raised_on", "age_days",
                                 "reason"],
                                [["9a0e887c512a", 1_011, "UNMATCHED", -BIG, "PARKED", "2026-11-20", 1_234,
                                  "no open invoice named, of Rp50,400, or summing to it, issued 62 days before to "
                                  "7 days after 2026-03-17; " * 3]]),
            "refunds": (["claim", "payer", "periods", "amount_rp", "due_on", "settled_on", "reference", "age_days"],
                        [["PNK-2025-001", "PEMKOT-PNK", ",".join(f"2025-{m:02d}" for m in range(1, 13)), 184_800,
                          "2025-01-08", "2025-12-31", "SP2D-2025-000123", None]])},
            {"budget_rp": 2_429_520_000, "expected_rp": BIG, "billed_rp": BIG, "budget_status": "OVER_BUDGET",
             "open_exceptions": 12_345, "refunds_due_rp": -BIG}, agreement="PNK-SOSIAL-2026",
            as_of="2026-11-20T17:00:00+07:00"),
        "members": report("members", {
            "by_agreement": (["agreement", "enrolled", "active", "lapsed_arrears", "lapsed_funding_ended"],
                             [["PNK-SOSIAL-2025", 1_216_451, 1_005_747, 12_199, 1_686],
                              ["PNK-SOSIAL-2026", 5_747, 5_747, 0, 0]]),
            "by_village": (["village", "active"], []),
            "by_month": (["month", "enrolments", "lapses_arrears", "lapses_funding_ended", "reinstated_months"],
                         [["2025-01", 16_451, 0, 0, 1_234_567]])},
            {"active_members": 1_007_014, "died": 68}),
        "coverage": report("coverage", {
            "by_region": (["region", "active_participants", "workforce", "ucj_pct"],
                          [["61.71", 5_747, 352_000, "1.63"], ["61.07", 132_000, 132_000, "100.00"]])},
            {"regions": 4, "active_participants": 7_014}),
        "claims": report("claims", {
            "by_type_status": (["claim_type", "status", "claims", "paid_rp"],
                               [["JKK_DISABILITY", "REJECTED", 7, BIG]])},
            {"claims": 76, "paid_claims": 76, "paid_rp": 3_422_000_000, "days_submission_to_payment_avg": 1_012.5}),
        "audit": report("audit", {
            "by_event_type": (["event_type", "events", "last_position"],
                              [["ContributionRefundDue", 188_564, 1_188_564]]),
            "findings": (["finding"], [])},
            {"events": 188_564, "chain_ok": True, "head_position": 1_188_564, "head_hash": "9588a39f" * 8}),
    }


# --- the one registry of cell kinds ---------------------------------------------------------------------


@pytest.mark.parametrize(("column", "values", "kind"), [
    ("paid_rp", [None, 16_800], Kind.MONEY), ("billed_minus_received_rp", [-1], Kind.MONEY),
    ("ucj_pct", ["40.37"], Kind.PERCENT), ("share_pct", [98.8], Kind.PERCENT),
    ("raised_on", ["2026-11-20"], Kind.DATE), ("settled_on", [None], Kind.DATE),
    ("period", ["2025-01"], Kind.PERIOD), ("month", ["2025-01"], Kind.PERIOD), ("paid_through", [None], Kind.PERIOD),
    ("active", [5_747], Kind.COUNT), ("line", [11], Kind.COUNT),
    ("days_submission_to_payment_avg", [1.5], Kind.DECIMAL),
    ("chain_ok", [True], Kind.FLAG), ("since", ["2026-01-31"], Kind.DATE),
    ("agreement", ["PNK-SOSIAL-2026"], Kind.TEXT), ("region", ["61.71"], Kind.TEXT), ("finding", [], Kind.TEXT),
])
def test_cell_kind_comes_from_the_column_name_then_the_value(column: str, values: list[Any], kind: Kind) -> None:
    assert kind_of(column, values) is kind


@pytest.mark.parametrize(("kind", "value", "text"), [
    (Kind.MONEY, 16_800, "Rp16.800"), (Kind.MONEY, -16_800, "-Rp16.800"), (Kind.MONEY, 0, "Rp0"),
    (Kind.MONEY, 2_459_520_000, "Rp2.459.520.000"), (Kind.COUNT, 1_234, "1.234"), (Kind.COUNT, -5, "-5"),
    (Kind.PERCENT, "40.37", "40,37%"), (Kind.PERCENT, 98.8, "98,80%"), (Kind.PERCENT, "100.00", "100,00%"),
    (Kind.DATE, "2026-11-20", "20/11/2026"), (Kind.DECIMAL, 1_012.5, "1.012,5"), (Kind.FLAG, False, "FALSE"),
    (Kind.PERIOD, "2025-01", "2025-01"), (Kind.TEXT, None, ""), (Kind.DATE, "not a date", "not a date"),
])
def test_shown_is_what_libreoffice_shows_in_the_indonesian_locale(kind: Kind, value: Any, text: str) -> None:
    assert shown(kind, value) == text


def test_cells_store_dates_as_dates_and_percentages_as_fractions() -> None:
    assert cell_value(Kind.DATE, "2026-11-20") == date(2026, 11, 20)
    assert cell_value(Kind.PERCENT, "40.37") == pytest.approx(0.4037)
    assert cell_value(Kind.PERCENT, 98.8) == pytest.approx(0.988)
    assert cell_value(Kind.MONEY, 16_800) == 16_800
    assert label("billed_minus_received_rp") == "billed minus received (Rp)" and label("ucj_pct") == "ucj (%)"


def test_text_width_is_never_narrower_than_the_font_draws_it() -> None:
    # DejaVu Sans (hmtx, em): "Rp2.459.520.000" = R .695 + p .635 + 10 × .636 + 3 × .318; W .989; m .974
    assert text_width("Rp2.459.520.000") * 0.636 >= 0.695 + 0.635 + 10 * 0.636 + 3 * 0.318
    assert text_width("WWWW") * 0.636 >= 4 * 0.989 and text_width("mmmm") * 0.636 >= 4 * 0.974
    assert text_width("PNK-SOSIAL-2026") > text_width("PNK-SOSIAL-20")
    assert text_width("abc", bold=True) > text_width("abc")


# --- XLSX ---------------------------------------------------------------------------------------------


def kind_of_format(code: str, value: Any) -> Kind:
    """The kind a stored cell is shown as, from its number format (the workbook's own word for it)."""
    for kind, fmt in NUMBER_FORMATS.items():
        if code == fmt and kind not in (Kind.TEXT, Kind.FLAG, Kind.PERIOD):
            return kind
    if "Rp" in code:
        return Kind.MONEY
    return Kind.FLAG if isinstance(value, bool) else Kind.COUNT if isinstance(value, int) else Kind.TEXT


def overflowing(path: Path) -> list[str]:
    """Every number cell whose column is narrower than LibreOffice needs to show it (it would show ``###``),
    and every text cell cut off (neither fits nor wraps): checked from the stored values and formats alone."""
    found = []
    wb = load_workbook(path)
    for sheet in wb.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                if cell.value is None or cell.row < HEADER_ROW:
                    continue
                width = sheet.column_dimensions[cell.column_letter].width
                indent = int(cell.alignment.indent or 0)
                if cell.row == HEADER_ROW:
                    need = max(needed_width(line, indent, bold=True) for line in str(cell.value).split("\n"))
                else:
                    value = cell.value.date().isoformat() if isinstance(cell.value, datetime) else cell.value
                    kind = kind_of_format(cell.number_format, value)
                    if kind is Kind.PERCENT:
                        value = value * 100
                    need = needed_width(shown(kind, value), indent if cell.alignment.horizontal == "left" else 0)
                    if kind is Kind.TEXT and cell.alignment.wrap_text:
                        continue
                if width < need:
                    found.append(f"{path.stem} {sheet.title}!{cell.coordinate}: {cell.value!r} needs {need:.1f}, "
                                 f"has {width}")
    return found


def test_every_column_fits_what_it_shows_at_full_size(tmp_path: Path) -> None:
    """The issue: money columns showed ``###`` (35 cells in the trial balance), ``PNK-SOSIAL-2026`` showed as
    ``PNK-SOSIAL-20``, invoice and account names were cut."""
    problems = []
    for name, one in full_size_reports().items():
        write_xlsx(one, tmp_path / f"{name}.xlsx")
        problems += overflowing(tmp_path / f"{name}.xlsx")
    assert problems == []


def test_the_width_check_finds_a_column_too_narrow(tmp_path: Path) -> None:
    path = tmp_path / "narrow.xlsx"
    write_xlsx(full_size_reports()["trial-balance"], path)
    wb = load_workbook(path)
    wb["accounts"].column_dimensions["D"].width = 12  # the old fixed width
    wb.save(path)
    assert len(overflowing(path)) == len(full_size_reports()["trial-balance"]["sections"]["accounts"]["rows"])


def test_workbook_cells_are_typed_and_formatted(tmp_path: Path) -> None:
    one = full_size_reports()["reconciliation"]
    write_xlsx(one, tmp_path / "r.xlsx")
    wb = load_workbook(tmp_path / "r.xlsx")
    assert wb.sheetnames == ["totals", *one["sections"]]
    budget = wb["budget"]
    header, _ = read_table(budget)
    assert header == [label(c) for c in one["sections"]["budget"]["columns"]]
    cells = dict(zip(one["sections"]["budget"]["columns"], budget[HEADER_ROW + 1], strict=True))
    assert cells["budget_rp"].value == 2_429_520_000 and cells["budget_rp"].number_format == NUMBER_FORMATS[Kind.MONEY]
    assert cells["share_pct"].value == pytest.approx(1.012) and cells["share_pct"].number_format.endswith("0.00%")
    exceptions = dict(zip(one["sections"]["open_exceptions"]["columns"], wb["open_exceptions"][HEADER_ROW + 1],
                          strict=True))
    assert exceptions["raised_on"].is_date and exceptions["raised_on"].value.date() == date(2026, 11, 20)
    assert exceptions["raised_on"].number_format == "[$-421]dd/mm/yyyy"
    assert exceptions["line"].number_format == "[$-421]#,##0" and exceptions["line"].value == 1_011
    assert exceptions["reason"].alignment.wrap_text  # longer than the widest column: wrapped, row made taller
    assert wb["open_exceptions"].row_dimensions[HEADER_ROW + 1].height > 13 * 2
    months = dict(zip(one["sections"]["months"]["columns"], wb["months"][HEADER_ROW + 1], strict=True))
    assert months["period"].value == "2026-01" and months["period"].data_type == "s"  # text: see cells.py
    totals = dict(read_table(wb["totals"])[1])
    assert totals == {label(k): v for k, v in one["totals"].items()}


def test_every_sheet_has_a_title_a_frozen_filtered_header_and_a4_landscape(tmp_path: Path) -> None:
    for name, one in full_size_reports().items():
        write_xlsx(one, tmp_path / f"{name}.xlsx")
        wb = load_workbook(tmp_path / f"{name}.xlsx")
        for sheet in wb.worksheets:
            head, when = sheet["A1"].value, sheet["A2"].value
            assert head.startswith(f"{name} report") and (sheet.title == "totals" or head.endswith(sheet.title))
            assert "on 2026-11-20" in when and "log position 1.188.564" in when and "now" not in when
            assert sheet.freeze_panes == f"A{HEADER_ROW + 1}"
            last = sheet.cell(max(sheet.max_row, HEADER_ROW), sheet.max_column).coordinate
            assert sheet.auto_filter.ref == f"A{HEADER_ROW}:{last}"
            assert sheet.print_title_rows == f"${HEADER_ROW}:${HEADER_ROW}"
            setup = sheet.page_setup
            assert (setup.orientation, setup.paperSize, setup.fitToWidth, setup.fitToHeight) == ("landscape", 9, 1, 0)
            assert sheet.sheet_properties.pageSetUpPr.fitToPage
            assert sheet.cell(HEADER_ROW + 1, 1).font.name == "DejaVu Sans"
        assert wb._fonts[0].name == "DejaVu Sans"  # the default font the widths count in
    with_agreement = load_workbook(tmp_path / "reconciliation.xlsx")["months"]["A1"].value
    assert with_agreement == "reconciliation report — PNK-SOSIAL-2026: months"


def test_title_gives_the_recorded_time_as_a_timestamp(tmp_path: Path) -> None:
    reports = full_size_reports()
    write_xlsx(reports["members"], tmp_path / "m.xlsx")
    write_xlsx(reports["reconciliation"], tmp_path / "r.xlsx")
    built = load_workbook(tmp_path / "m.xlsx")["totals"]["A2"].value
    assert "as of 2026-11-20T10:05:03+07:00 (when built; no --as-of)" in built  # generated_at, in WIB
    asked = load_workbook(tmp_path / "r.xlsx")["totals"]["A2"].value
    assert "as recorded by 2026-11-20T17:00:00+07:00 (--as-of)" in asked


# --- CSV ----------------------------------------------------------------------------------------------


def test_csv_writes_one_file_per_section_with_one_header_row(tmp_path: Path) -> None:
    """The issue: one file stacked sections with different headers (DictReader read later headers as data)
    and had no totals."""
    one = full_size_reports()["reconciliation"]
    target = tmp_path / "new" / "dir"
    written = write_csv(one, target)
    assert sorted(p.name for p in written) == sorted(p.name for p in target.iterdir()) == sorted(
        [f"reconciliation.{s}.csv" for s in one["sections"]] + ["reconciliation.totals.csv"])
    for name, section in one["sections"].items():
        with (target / f"reconciliation.{name}.csv").open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            rows = list(reader)
        assert reader.fieldnames == section["columns"]
        assert [list(r.values()) for r in rows] == [["" if v is None else str(v) for v in row]
                                                    for row in section["rows"]]
    with (target / "reconciliation.totals.csv").open(newline="", encoding="utf-8") as fh:
        (totals,) = list(csv.DictReader(fh))
    assert totals["billed_rp"] == str(BIG) and totals["budget_status"] == "OVER_BUDGET"  # no separators
    assert (totals["report"], totals["agreement"], totals["position"]) == ("reconciliation", "PNK-SOSIAL-2026",
                                                                           "1188564")
    assert totals["as_of"] == "2026-11-20T17:00:00+07:00" and totals["generated_at"] == GENERATED
    write_csv(one, target)  # again into the existing directory: replaced, nothing else
    assert len(list(target.iterdir())) == len(written)


def test_csv_plain_values_and_one_section_to_print() -> None:
    audit = full_size_reports()["audit"]
    assert section_names(audit) == ["by_event_type", "findings", "totals"]
    assert section_csv(audit, "findings") == "finding\n"
    assert section_csv(audit, "by_event_type") == ("event_type,events,last_position\n"
                                                   "ContributionRefundDue,188564,1188564\n")
    assert ",1188564,188564,true,1188564,9588a39f" in section_csv(audit, "totals")  # position, then the totals
    with pytest.raises(KeyError):
        section_csv(audit, "nope")

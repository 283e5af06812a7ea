"""Bank-statement readers: the three formats agree, and every kind of bad input is refused by line and field."""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook

from commands.statement_file import ParsedStatement, parse_amount_rp, read_statement, read_statements
from ledger.errors import InvalidInput

HEADER = "sp2d_number,date,amount,account,description"
META = "# period: 2026-01-01..2026-01-31\n# account: 1234567890\n"
ROWS = [
    ("00123/SP2D/LS/2026", "2026-01-05", "16800", "INV-SKW-RENTAN-2025-2026-01"),
    ("00124/SP2D/LS/2026", "2026-01-07", "33600", "INV-SKW-RENTAN-2025-2026-02 INV-SKW-RENTAN-2025-2026-03"),
    ("00125/SP2D/LS/2026", "2026-01-20", "2429520000", "Pemkab Bengkayang Januari"),
]
EXPECTED = [(ref, date.fromisoformat(d), int(a), desc) for ref, d, a, desc in ROWS]


def _csv(tmp_path: Path, body: str, name: str = "stmt.csv", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(body.encode(encoding))
    return path


def _good_csv(tmp_path: Path) -> Path:
    rows = "\n".join(f"{r},{d},{a},1234567890,{desc}" for r, d, a, desc in ROWS)
    return _csv(tmp_path, f"{META}{HEADER}\n{rows}\n")


def _xlsx(tmp_path: Path, rows: list[list[Any]], name: str = "stmt.xlsx") -> Path:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    for row in rows:
        ws.append(row)
    path = tmp_path / name
    wb.save(path)
    return path


def _good_xlsx(tmp_path: Path) -> Path:
    return _xlsx(tmp_path, [
        ["# period: 2026-01-01..2026-01-31"],
        ["# account:", "1234567890"],
        ["No SP2D", "Tanggal", "Jumlah", "Rekening", "Keterangan"],
        [ROWS[0][0], datetime(2026, 1, 5), 16800, "1234567890", ROWS[0][3]],
        [ROWS[1][0], "2026-01-07", 33600.0, "1234567890", ROWS[1][3]],
        [ROWS[2][0], date(2026, 1, 20), "2.429.520.000", "1234567890", ROWS[2][3]],
    ])


MT940 = """:20:STMT-2026-01
:25:1234567890
:28C:1/1
:60F:C260101IDR1000000,00
:61:2601050105C16800,00NTRF00123//BR1
:86:SP2D 00123/SP2D/LS/2026 INV-SKW-RENTAN-2025-2026-01
:61:2601060106D6500,00NCHGNONREF//BR2
:86:BIAYA ADMIN
:61:2601070107C33600,00NTRFNONREF//BR3
:86:SP2D 00124/SP2D/LS/2026 INV-SKW-RENTAN-2025-2026-02 INV-SKW-RENTAN-2025-2026-03
:61:2601200120C2429520000,00NTRF00125//BR4
:86:SP2D NO. 00125/SP2D/LS/2026 Pemkab Bengkayang Januari
:62F:C260131IDR{closing}
"""


def _mt940(tmp_path: Path, closing: str = "2430563900,00", name: str = "stmt.sta", text: str = MT940) -> Path:
    path = tmp_path / name
    path.write_text(text.replace("{closing}", closing))
    return path


def _essence(stmt: ParsedStatement) -> list[tuple[str, date, int, str]]:
    """MT940 details also carry the SP2D text; the CSV/XLSX description is its tail."""
    out = []
    for ln, (_, _, _, desc) in zip(stmt.lines, ROWS, strict=True):
        assert ln.description.endswith(desc)
        out.append((ln.reference, ln.booked_on, ln.amount_rp, desc))
    return out


# -- good files ----------------------------------------------------------------------------------------


def test_csv_xlsx_and_mt940_give_the_same_lines(tmp_path: Path) -> None:
    csv_stmt = read_statement(_good_csv(tmp_path))
    xlsx_stmt = read_statement(_good_xlsx(tmp_path))
    mt_stmt = read_statement(_mt940(tmp_path))
    assert _essence(csv_stmt) == _essence(xlsx_stmt) == _essence(mt_stmt) == EXPECTED
    assert (csv_stmt.format, xlsx_stmt.format, mt_stmt.format) == ("csv", "xlsx", "mt940")
    for stmt in (csv_stmt, xlsx_stmt, mt_stmt):
        assert (stmt.period_start, stmt.period_end) == (date(2026, 1, 1), date(2026, 1, 31))
        assert stmt.account == "1234567890"
        assert {ln.statement_id for ln in stmt.lines} == {stmt.sha256}
        assert {ln.account for ln in stmt.lines} == {"1234567890"}
    assert [ln.line_no for ln in csv_stmt.lines] == [4, 5, 6]
    assert [ln.line_no for ln in xlsx_stmt.lines] == [4, 5, 6]
    assert [ln.line_no for ln in mt_stmt.lines] == [5, 9, 11]  # the :61: lines; the debit on line 7 skipped
    assert (mt_stmt.opening_rp, mt_stmt.closing_rp, mt_stmt.debit_lines_skipped, mt_stmt.debits_rp) == (
        1_000_000, 2_430_563_900, 1, 6_500)


def test_sha256_is_of_the_raw_bytes_and_stable(tmp_path: Path) -> None:
    path = _good_csv(tmp_path)
    first, second = read_statement(path), read_statement(path)
    assert first.sha256 == second.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert first == second
    path.write_bytes(path.read_bytes() + b"\n")
    assert read_statement(path).sha256 != first.sha256


def test_csv_semicolon_bom_aliases_and_day_first_dates(tmp_path: Path) -> None:
    body = ("# periode: 2026-01-01..2026-01-31\n# saldo awal: 0\n# saldo akhir: Rp 50.400\n"
            "NO SP2D;Tanggal;Nominal;Keterangan\n"
            "00123/SP2D/LS/2026;05/01/2026;16.800,00;a\n\n"
            "00124/SP2D/LS/2026;07-01-2026;Rp 33.600;b\n")
    stmt = read_statement(_csv(tmp_path, "\ufeff" + body))
    assert [(ln.line_no, ln.booked_on, ln.amount_rp) for ln in stmt.lines] == [
        (5, date(2026, 1, 5), 16800), (7, date(2026, 1, 7), 33600)]
    assert (stmt.opening_rp, stmt.closing_rp, stmt.account) == (0, 50_400, None)


def test_period_from_arguments_when_the_file_has_none(tmp_path: Path) -> None:
    path = _csv(tmp_path, f"{HEADER}\n00123/SP2D/LS/2026,2026-01-05,16800,1,x\n")
    stmt = read_statement(path, period_start=date(2026, 1, 1), period_end=date(2026, 1, 31))
    assert stmt.period_end == date(2026, 1, 31)
    assert read_statement(_good_csv(tmp_path), period_start=date(2026, 1, 1)).period_start == date(2026, 1, 1)


def test_xlsx_detected_by_zip_signature_whatever_the_name(tmp_path: Path) -> None:
    good = _good_xlsx(tmp_path)
    renamed = tmp_path / "stmt.csv"
    renamed.write_bytes(good.read_bytes())
    assert read_statement(renamed).format == "xlsx"


@pytest.mark.parametrize(("text", "expected"), [
    ("16800", 16800), ("16.800", 16800), ("1.234.567", 1234567), ("Rp 16.800", 16800), ("Rp16.800", 16800),
    ("Rp. 16.800", 16800), ("IDR 16800", 16800), ("16.800,00", 16800), ("16800,0", 16800), (" 16800 ", 16800),
    ("+16800", 16800),
])
def test_amounts_accepted(text: str, expected: int) -> None:
    assert parse_amount_rp(text, field="amount") == expected


@pytest.mark.parametrize(("text", "reason"), [
    ("16,800", "ambiguous"), ("1,234,567", "ambiguous"), ("16.800,50", "sen"), ("16800,5", "sen"),
    ("16800.00", "Indonesian"), ("16.80", "Indonesian"), ("1.2345", "Indonesian"), ("16 800", "not an amount"),
    ("0", "more than zero"), ("-16800", "more than zero"), ("Rp -16.800", "more than zero"), ("", "not an amount"),
    ("abc", "not an amount"), ("12345678901234567", "limit"), ("Rp 12.345.678.901.234.567", "digits"),
    ("(16800)", "more than zero"),
])
def test_amounts_rejected(text: str, reason: str) -> None:
    with pytest.raises(InvalidInput) as err:
        parse_amount_rp(text, field="line 9: amount")
    assert err.value.field == "line 9: amount"
    assert reason in err.value.reason


# -- bad CSV rows: each names the line and the field ------------------------------------------------------

BAD_ROWS = [
    pytest.param("00123/SP2D/LS/2026,2026-01-05,\"16,800\",1,x", "line 4: amount", "ambiguous", id="ambiguous-comma"),
    pytest.param("00123/SP2D/LS/2026,2026-01-05,\"16.800,50\",1,x", "line 4: amount", "sen", id="cents"),
    pytest.param("00123/SP2D/LS/2026,2026-01-05,16800.00,1,x", "line 4: amount", "Indonesian", id="decimal-point"),
    pytest.param("00123/SP2D/LS/2026,2026-01-05,-16800,1,x", "line 4: amount", "more than zero", id="negative"),
    pytest.param("00123/SP2D/LS/2026,2026-01-05,0,1,x", "line 4: amount", "more than zero", id="zero"),
    pytest.param("00123/SP2D/LS/2026,2026-01-05,,1,x", "line 4: amount", "not an amount", id="no-amount"),
    pytest.param("00123/SP2D/LS/2026,2026-02-01,16800,1,x", "line 4: date", "outside the statement period",
                 id="date-after-period"),
    pytest.param("00123/SP2D/LS/2026,2025-12-31,16800,1,x", "line 4: date", "outside the statement period",
                 id="date-before-period"),
    pytest.param("00123/SP2D/LS/2026,2026-02-30,16800,1,x", "line 4: date", "not a date", id="impossible-date"),
    pytest.param("00123/SP2D/LS/2026,Jan 5 2026,16800,1,x", "line 4: date", "not a date", id="malformed-date"),
    pytest.param("00123/SP2D/LS/2026,,16800,1,x", "line 4: date", "required", id="no-date"),
    pytest.param(",2026-01-05,16800,1,x", "line 4: sp2d_number", "required", id="no-reference"),
    pytest.param("   ,2026-01-05,16800,1,x", "line 4: sp2d_number", "required", id="blank-reference"),
    pytest.param("00123/SP2D/LS/2026,2026-01-05,16800,1", "line 4", "cells", id="short-row"),
]


@pytest.mark.parametrize(("row", "field", "reason"), BAD_ROWS)
def test_bad_csv_row_is_refused_naming_line_and_field(tmp_path: Path, row: str, field: str, reason: str) -> None:
    path = _csv(tmp_path, f"{META}{HEADER}\n{row}\n00124/SP2D/LS/2026,2026-01-06,16800,1,ok\n")
    with pytest.raises(InvalidInput) as err:
        read_statement(path)
    assert err.value.field == field
    assert reason in err.value.reason


def test_bad_row_after_good_rows_still_refuses_the_whole_file(tmp_path: Path) -> None:
    good = "\n".join(f"{i:05d}/SP2D/LS/2026,2026-01-05,16800,1,x" for i in range(50))
    path = _csv(tmp_path, f"{META}{HEADER}\n{good}\n99999/SP2D/LS/2026,2026-01-05,\"16,800\",1,x\n")
    with pytest.raises(InvalidInput) as err:
        read_statement(path)
    assert err.value.field == "line 54: amount"


@pytest.mark.parametrize(("body", "field", "reason"), [
    pytest.param("", "file", "empty", id="empty"),
    pytest.param("\n\n  \n", "file", "empty", id="blank"),
    pytest.param(META, "file", "no header", id="only-metadata"),
    pytest.param(f"{META}sp2d_number,amount,description\n1,16800,x\n", "file", "date", id="missing-date-column"),
    pytest.param(f"{META}foo,bar\n1,2\n", "file", "sp2d_number", id="unknown-columns"),
    pytest.param(f"{HEADER}\n00123/SP2D/LS/2026,2026-01-05,16800,1,x\n", "period_start", "no statement period",
                 id="no-period"),
    pytest.param(f"# period: 2026-01-31\n{HEADER}\n", "line 1: period", "START..END", id="bad-period"),
    pytest.param(f"# period: 2026-02-01..2026-01-01\n{HEADER}\n", "period", "after it ends", id="reversed-period"),
    pytest.param(f"# periode: 2026-13-01..2026-01-31\n{HEADER}\n", "line 1: period", "not a date",
                 id="period-not-a-date"),
    pytest.param(f"# bank: BRI\n{HEADER}\n", "line 1: metadata", "key", id="unknown-metadata"),
    pytest.param(f"{META}# opening: 0\n# closing: 1\n{HEADER}\n1/SP2D,2026-01-05,16800,1,x\n", "closing",
                 "does not balance", id="csv-balance"),
    pytest.param(f"{META}# opening: 16,800\n{HEADER}\n", "line 3: opening", "ambiguous", id="bad-opening"),
    pytest.param(f"{META}sp2d,reference,date,amount\n", "line 3: header", "sp2d_number", id="two-reference-columns"),
    pytest.param(f"{META}{HEADER}\n\"unterminated,2026-01-05,16800,1,x\n", "file", "CSV", id="broken-quote"),
])
def test_bad_csv_file_is_refused(tmp_path: Path, body: str, field: str, reason: str) -> None:
    with pytest.raises(InvalidInput) as err:
        read_statement(_csv(tmp_path, body))
    assert err.value.field == field
    assert reason in err.value.reason


def test_period_argument_disagreeing_with_the_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as err:
        read_statement(_good_csv(tmp_path), period_end=date(2026, 2, 28))
    assert err.value.field == "period_end"
    assert "2026-01-31" in err.value.reason


def test_non_utf8_csv_is_refused(tmp_path: Path) -> None:
    path = _csv(tmp_path, f"{META}{HEADER}\n00123/SP2D/LS/2026,2026-01-05,16800,1,Pembayaran iuran café\n",
                encoding="latin-1")
    with pytest.raises(InvalidInput) as err:
        read_statement(path)
    assert err.value.field == "file"
    assert "not UTF-8" in err.value.reason
    assert "line 4" in err.value.reason


def test_more_lines_than_the_limit_is_refused(tmp_path: Path) -> None:
    rows = "\n".join(f"{i:05d}/SP2D,2026-01-05,16800,1,x" for i in range(11))
    path = _csv(tmp_path, f"{META}{HEADER}\n{rows}\n")
    assert len(read_statement(path, line_limit=11).lines) == 11
    with pytest.raises(InvalidInput) as err:
        read_statement(path, line_limit=10)
    assert err.value.field == "file"
    assert "10" in err.value.reason


def test_unknown_extension_and_missing_file_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=r"\.csv, \.xlsx or MT940"):
        read_statement(_csv(tmp_path, "x", name="stmt.pdf"))
    with pytest.raises(InvalidInput, match="does not exist"):
        read_statement(tmp_path / "nothing.csv")


# -- bad XLSX ------------------------------------------------------------------------------------------

XLSX_HEAD: list[list[Any]] = [["# period: 2026-01-01..2026-01-31"], ["sp2d_number", "date", "amount", "description"]]


@pytest.mark.parametrize(("row", "field", "reason"), [
    pytest.param(["1/SP2D", date(2026, 1, 5), 16800.5, "x"], "line 3: amount", "sen", id="fractional-float"),
    pytest.param(["1/SP2D", date(2026, 1, 5), -16800, "x"], "line 3: amount", "more than zero", id="negative"),
    pytest.param(["1/SP2D", date(2026, 1, 5), 0, "x"], "line 3: amount", "more than zero", id="zero"),
    pytest.param(["1/SP2D", date(2026, 1, 5), True, "x"], "line 3: amount", "not an amount", id="boolean"),
    pytest.param(["1/SP2D", date(2026, 1, 5), "16,800", "x"], "line 3: amount", "ambiguous", id="text-comma"),
    pytest.param(["1/SP2D", date(2026, 1, 5), None, "x"], "line 3: amount", "required", id="no-amount"),
    pytest.param(["1/SP2D", date(2026, 3, 5), 16800, "x"], "line 3: date", "outside", id="date-outside"),
    pytest.param(["1/SP2D", "5 Jan", 16800, "x"], "line 3: date", "not a date", id="text-date"),
    pytest.param(["1/SP2D", 45000, 16800, "x"], "line 3: date", "not a date", id="number-date"),
    pytest.param([None, date(2026, 1, 5), 16800, "x"], "line 3: sp2d_number", "required", id="no-reference"),
])
def test_bad_xlsx_row_is_refused(tmp_path: Path, row: list[Any], field: str, reason: str) -> None:
    with pytest.raises(InvalidInput) as err:
        read_statement(_xlsx(tmp_path, [*XLSX_HEAD, row]))
    assert err.value.field == field
    assert reason in err.value.reason


def test_corrupted_xlsx_is_refused(tmp_path: Path) -> None:
    good = _good_xlsx(tmp_path).read_bytes()
    truncated = tmp_path / "cut.xlsx"
    truncated.write_bytes(good[: len(good) // 2])
    not_zip = tmp_path / "text.xlsx"
    not_zip.write_text("sp2d_number,date,amount\n")
    for path in (truncated, not_zip):
        with pytest.raises(InvalidInput) as err:
            read_statement(path)
        assert err.value.field == "file"
        assert "not a readable XLSX" in err.value.reason


def test_xlsx_without_header_or_columns_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="empty"):
        read_statement(_xlsx(tmp_path, [["# period: 2026-01-01..2026-01-31"]]))
    with pytest.raises(InvalidInput, match="lacks column"):
        read_statement(_xlsx(tmp_path, [["nama", "jumlah"], ["x", 1]]))


# -- bad MT940 -----------------------------------------------------------------------------------------


def test_mt940_that_does_not_balance_is_refused_naming_the_statement(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as err:
        read_statement(_mt940(tmp_path, closing="2430570400,00"))
    assert err.value.field == "closing"
    assert "STMT-2026-01" in err.value.reason
    assert "does not balance" in err.value.reason


@pytest.mark.parametrize(("old", "new", "field", "reason"), [
    pytest.param(":60F:C260101IDR1000000,00", ":60F:C260101IDR1000000,50", "line 4: opening", "sen",
                 id="opening-with-sen"),
    pytest.param(":60F:C260101IDR1000000,00", ":60F:C260101USD1000000,00", "line 4: currency", "IDR",
                 id="not-rupiah"),
    pytest.param(":61:2601050105C16800,00", ":61:2601050105C16800,50", "line 5: amount", "sen", id="line-sen"),
    pytest.param(":61:2601200120C", ":61:2602200220C", "line 11: date", "outside", id="date-outside"),
    pytest.param(":86:SP2D 00124/SP2D/LS/2026 INV", ":86:TRANSFER INV", "line 9: sp2d_number", "required",
                 id="no-reference"),
    pytest.param(":62F:C260131IDR", ":62F:C26013IDR", "file", "MT940", id="broken-closing"),
    pytest.param(":61:2601050105C16800,00NTRF", ":61:26XX050105C16800,00NTRF", "file", "MT940", id="broken-line"),
    pytest.param(":60F:C260101IDR1000000,00\n", "", "file", ":60F:", id="no-opening"),
])
def test_bad_mt940_is_refused(tmp_path: Path, old: str, new: str, field: str, reason: str) -> None:
    text = MT940.replace("{closing}", "2430563900,00")
    assert old in text
    with pytest.raises(InvalidInput) as err:
        read_statement(_mt940(tmp_path, text=text.replace(old, new, 1)))
    assert err.value.field == field
    assert reason in err.value.reason


def test_mt940_customer_reference_when_details_name_no_sp2d(tmp_path: Path) -> None:
    text = MT940.replace("{closing}", "2430563900,00").replace(":86:SP2D 00123/SP2D/LS/2026 ", ":86:")
    stmt = read_statement(_mt940(tmp_path, text=text, name="stmt.mt940"))
    assert stmt.lines[0].reference == "00123"


def test_mt940_limit_and_period_arguments(tmp_path: Path) -> None:
    path = _mt940(tmp_path, name="stmt.txt")
    with pytest.raises(InvalidInput, match="line_limit"):
        read_statement(path, line_limit=3)
    with pytest.raises(InvalidInput) as err:
        read_statement(path, period_start=date(2026, 1, 2))
    assert err.value.field == "period_start"
    assert read_statement(path, period_start=date(2026, 1, 1), period_end=date(2026, 1, 31)).lines


# -- MT940 as banks write it: booking and value dates, debits, several statements in a file -----------------

DAY_FILE = """{1:F01BRINIDJAXXX0000000000}{2:O9400600260109BRINIDJAXXXX00000000002601090600N}{4:
:20:BRI260107001
:25:0123456789012
:28C:7/1
:60F:C260107IDR5000000,00
:61:2601060107C16800,00NTRF00123//2601070001
:86:SP2D 00123/SP2D/LS/2026 IURAN BPU INV-SKW-RENTAN-2025-2026-01
:61:2512310107D6500,00NCHGNONREF//2601070002
:86:BIAYA ADM BULAN DESEMBER
:61:2601070107D2500000,00NTRFHO SWEEP 07/01//2601070003
:62F:C260107IDR2510300,00
-}{5:{CHK:0123456789AB}}
{1:F01BRINIDJAXXX0000000000}{2:O9400600260109BRINIDJAXXXX00000000002601090601N}{4:
:20:BRI260108001
:25:0123456789012
:28C:8/1
:60F:C260108IDR2510300,00
:61:2601080108C33600,00NTRF00124//2601080001
:86:TRF DARI BPKAD KOTA SINGKAWANG
:61:2601080108RC16800,00NRTI00123//2601080002
:86:KOREKSI SP2D 00123/SP2D/LS/2026
:62F:C260108IDR2527100,00
:86:SALDO RATA-RATA SP2D 99999/SP2D/LS/2026
-}{5:{CHK:0123456789AC}}
{1:F01BRINIDJAXXX0000000000}{2:O9400600260109BRINIDJAXXXX00000000002601090602N}{4:
:20:BRI260109001
:25:0123456789012
:28C:9/1
:60F:C260109IDR2527100,00
:62F:C260109IDR2527100,00
-}{5:{CHK:0123456789AD}}
"""
"""Three day statements of one account in one file, as a bank delivers them (SWIFT envelope, CRLF): the
credit of 7 January was valued on the 6th, the December charge is booked on the 7th, the sweep to the head
office has a free-text reference, the 8th has a reversal (RC) and an :86: for the account owner after its
closing balance, the 9th is a quiet day."""


def _day_file(tmp_path: Path, text: str = DAY_FILE, name: str = "bri-harian.sta", crlf: bool = True) -> Path:
    path = tmp_path / name
    path.write_bytes(text.replace("\n", "\r\n" if crlf else "\n").encode())
    return path


def test_mt940_line_booked_in_the_period_and_valued_the_day_before_is_read(tmp_path: Path) -> None:
    """The period counts the booking (entry) date; the value date is kept beside it."""
    first = read_statements(_day_file(tmp_path)).statements[0]
    (line,) = first.lines
    assert (first.period_start, first.period_end) == (date(2026, 1, 7), date(2026, 1, 7))
    assert (line.booked_on, line.value_on) == (date(2026, 1, 7), date(2026, 1, 6))
    assert (line.line_no, line.reference, line.amount_rp) == (6, "00123/SP2D/LS/2026", 16_800)


def test_mt940_without_entry_date_books_on_the_value_date_and_guesses_the_year_across_new_year(
        tmp_path: Path) -> None:
    text = MT940.replace("{closing}", "2430563900,00").replace(":61:2601050105C", ":61:260105C").replace(
        ":61:2601070107C", ":61:2512310107C").replace(":60F:C260101", ":60F:C251231")
    stmt = read_statement(_mt940(tmp_path, text=text))
    assert [(ln.booked_on, ln.value_on) for ln in stmt.lines[:2]] == [
        (date(2026, 1, 5), date(2026, 1, 5)), (date(2026, 1, 7), date(2025, 12, 31))]


def test_mt940_debits_are_counted_but_not_checked_as_if_imported(tmp_path: Path) -> None:
    """A charge valued last month, a sweep with a free-text reference, a reversal: none is a payer's transfer;
    they count in the balance (RC is money out) and refuse nothing."""
    first, second, _ = read_statements(_day_file(tmp_path)).statements
    assert (first.debit_lines_skipped, first.debits_rp) == (2, 2_506_500)
    assert (second.debit_lines_skipped, second.debits_rp) == (1, 16_800)
    assert [(ln.line_no, ln.reference) for ln in second.lines] == [(18, "00124")]


def test_mt940_statement_information_after_the_closing_balance_is_not_the_last_lines_details(
        tmp_path: Path) -> None:
    second = read_statements(_day_file(tmp_path)).statements[1]
    assert "99999" not in " ".join(ln.description for ln in second.lines)


def test_several_statements_in_one_file_are_read_each_on_its_own(tmp_path: Path) -> None:
    read = read_statements(_day_file(tmp_path))
    assert read.format == "mt940" and len(read.statements) == 3
    assert read.sha256 == hashlib.sha256(_day_file(tmp_path).read_bytes()).hexdigest()
    assert [(s.number, s.reference, s.first_line, s.period_start.day, len(s.lines)) for s in read.statements] == [
        (1, "BRI260107001", 2, 7, 1), (2, "BRI260108001", 14, 8, 1), (3, "BRI260109001", 26, 9, 0)]
    assert [(s.opening_rp, s.closing_rp) for s in read.statements] == [
        (5_000_000, 2_510_300), (2_510_300, 2_527_100), (2_527_100, 2_527_100)]
    ids = [s.sha256 for s in read.statements]
    assert len(set(ids)) == 3 and read.sha256 not in ids
    for stmt in read.statements:
        assert {ln.statement_id for ln in stmt.lines} <= {stmt.sha256}
    with pytest.raises(InvalidInput, match="holds 3 statements"):
        read_statement(_day_file(tmp_path))


def test_the_same_statement_in_another_file_has_the_same_id(tmp_path: Path) -> None:
    """A day's statement delivered again in the month's file — LF instead of CRLF, trailing blanks, without the
    SWIFT envelope — is the same statement; another day's is not, though the bank reuses its :20:."""
    day = read_statements(_day_file(tmp_path)).statements[1]
    block = DAY_FILE.split("{4:\n")[2].split("-}")[0]
    month = _day_file(tmp_path, block.replace("\n", "   \n") + "-\n" + MT940.replace("{closing}", "2430563900,00"),
                      name="bulanan.txt", crlf=False)
    again, other = read_statements(month).statements
    assert again.sha256 == day.sha256 and again.lines[0].statement_id == day.sha256
    assert (again.first_line, again.lines[0].line_no) == (1, 5)
    reused_ref = _day_file(tmp_path, block.replace("2527100,00", "2527101,00").replace("33600,00", "33601,00"),
                           name="ulang.sta")
    assert read_statement(reused_ref).sha256 != day.sha256
    assert other.reference == "STMT-2026-01"


def test_mt940_continuation_page_with_intermediate_balances(tmp_path: Path) -> None:
    text = (MT940.replace("{closing}", "2430563900,00").replace(":60F:", ":60M:").replace(":62F:", ":62M:"))
    assert read_statement(_mt940(tmp_path, text=text)).closing_rp == 2_430_563_900


@pytest.mark.parametrize(("old", "new", "field", "reason"), [
    pytest.param(":61:2601080108C33600,00", ":61:2601080108C33600,50", "line 18: amount", "statement 2",
                 id="sen-in-the-second-statement"),
    pytest.param(":61:2601080108C33600,00", ":61:2601090109C33600,00", "line 18: date", "statement 2",
                 id="booked-after-the-second-statement"),
    pytest.param(":61:2601070107D2500000,00", ":61:2601070107D2500000,50", "line 10: amount", "sen",
                 id="debit-with-sen"),
    pytest.param(":62F:C260108IDR2527100,00", ":62F:C260108IDR2527000,00", "closing", "2 of bri-harian.sta",
                 id="second-does-not-balance"),
    pytest.param(":60F:C260109IDR2527100,00", ":60F:C260109USD2527100,00", "line 29: currency", "USD",
                 id="third-not-rupiah"),
    pytest.param(":62F:C260109IDR2527100,00\n", "", "file", "statement 3 (line 26)", id="third-without-closing"),
    pytest.param("-}{5:{CHK:0123456789AB}}\n", "-}{5:{CHK:0123456789AB}}\n:61:2601070107C1,00NTRFX\n",
                 "line 13: :61:", "outside any statement", id="movement-between-statements"),
    pytest.param("{1:F01BRINIDJAXXX0000000000}{2:O9400600260109BRINIDJAXXXX00000000002601090600N}{4:\n",
                 ":25:0123456789012\n", "line 1: :25:", "before the first", id="tag-before-the-first-statement"),
])
def test_a_bad_statement_refuses_the_whole_file_naming_statement_line_and_field(
        tmp_path: Path, old: str, new: str, field: str, reason: str) -> None:
    assert old in DAY_FILE
    with pytest.raises(InvalidInput) as err:
        read_statements(_day_file(tmp_path, DAY_FILE.replace(old, new, 1)))
    assert err.value.field == field
    assert reason in err.value.reason


def test_a_file_without_any_statement_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="no :20:"):
        read_statements(_mt940(tmp_path, text=":25:123\n:60F:C260101IDR0,00\n"))


# -- CSV / XLSX value dates ------------------------------------------------------------------------------


def test_csv_value_date_column_is_kept_and_defaults_to_the_booking_date(tmp_path: Path) -> None:
    body = (f"{META}sp2d_number,tanggal,tanggal_valuta,amount\n"
            "1/SP2D,2026-01-05,04/01/2026,16800\n2/SP2D,2026-01-06,,16800\n3/SP2D,2026-01-31,2026-02-01,16800\n")
    stmt = read_statement(_csv(tmp_path, body))
    assert [(ln.booked_on.day, ln.value_on) for ln in stmt.lines] == [
        (5, date(2026, 1, 4)), (6, date(2026, 1, 6)), (31, date(2026, 2, 1))]
    assert all(ln.value_on == ln.booked_on for ln in read_statement(_good_csv(tmp_path)).lines)
    with pytest.raises(InvalidInput) as err:
        read_statement(_csv(tmp_path, body.replace("04/01/2026", "32/01/2026")))
    assert err.value.field == "line 4: value_date"


def test_xlsx_value_date_cells(tmp_path: Path) -> None:
    stmt = read_statement(_xlsx(tmp_path, [
        ["# period: 2026-01-01..2026-01-31"], ["No SP2D", "Tanggal", "Valuta", "Jumlah"],
        ["1/SP2D", date(2026, 1, 5), datetime(2026, 1, 4), 16800], ["2/SP2D", date(2026, 1, 6), None, 16800]]))
    assert [ln.value_on for ln in stmt.lines] == [date(2026, 1, 4), date(2026, 1, 6)]

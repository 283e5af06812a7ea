"""The finance verbs of ``jamsos`` as real subprocesses (issue 4): bill, reconcile import / run / resolve,
refund settle, check, report trial-balance / reconciliation; every bad input of the issue refused by line and
field with nothing written."""

from __future__ import annotations

import zipfile
from pathlib import Path

import openpyxl
import pytest

from projections.cells import label
from projections.workbook import read_table
from tests.test_cli import AGREEMENT, RATE, Cli, cli, template  # noqa: F401 (fixtures)

INVOICE = f"INV-{AGREEMENT}-2025-01"
PERIOD = "# period: 2025-01-01..2025-01-31"
HEADER = "sp2d_number,date,amount,account,description"


def write(path: Path, *rows: str, meta: str = PERIOD) -> Path:
    path.write_text("\n".join([meta, HEADER, *rows]) + "\n", encoding="utf-8")
    return path


MT940_BROKEN = "\n".join([
    ":20:STMT1", ":25:1234567890", ":28C:1", ":60F:C250101IDR1000000,00",
    ":61:2501200120C33600,00NTRF00123//BR1", ":86:SP2D 00123/SP2D/LS/2025 " + INVOICE,
    ":62F:C250131IDR1000001,00", "",
])


def test_bill_reconcile_and_report(cli: Cli, tmp_path: Path) -> None:
    billed = cli.ok("bill", "--agreement", AGREEMENT, "--period", "2025-01", "--on", "2025-01-03")
    assert billed["invoice"] == INVOICE and billed["amount_rp"] == 2 * RATE and billed["budget_status"] == "WITHIN"
    path = write(tmp_path / "bank.csv", f"SP2D-9001,2025-01-20,33.600,1234567890,Iuran {INVOICE}",
                 "SP2D-9002,20/01/2025,Rp 777,1234567890,salah transfer")
    imported = cli.ok("reconcile", "import", str(path), "--payer", "PEMKOT-SKW", "--on", "2025-01-31")
    assert imported["lines"] == 2 and imported["total_rp"] == 2 * RATE + 777
    assert [(r["status"], r["lines"]) for r in imported["statements"]] == [("imported", 2)]
    run = cli.ok("reconcile", "run", "--on", "2025-01-31")
    assert (run["matched"], run["exceptions"], run["matched_rp"]) == (1, 1, 2 * RATE)
    report = cli.ok("report", "reconciliation", "--agreement", AGREEMENT, "--on", "2025-01-31")
    months = {row[0]: row for row in report["sections"]["months"]["rows"]}
    assert months["2025-01"][4] == months["2025-01"][6] == 2 * RATE  # billed = received
    assert report["totals"]["open_exceptions"] == 1
    workbook_path = tmp_path / "recon.xlsx"
    cli.ok("report", "reconciliation", "--agreement", AGREEMENT, "--on", "2025-01-31", "--xlsx", str(workbook_path))
    workbook = openpyxl.load_workbook(workbook_path)
    header, rows = read_table(workbook["months"])
    billed_col = header.index(label("billed_rp"))
    assert sum(row[billed_col] for row in rows if isinstance(row[billed_col], int)) == report["totals"]["billed_rp"]
    check = cli.ok("check", "--on", "2025-01-31")
    assert check["ok"] and check["debit_rp"] == check["credit_rp"]
    # one member's January was credited (the template paid it), the other's is billed, not yet credited
    assert [i[:3] for i in check["open_items"]["rows"]] == [
        [f"billed:{AGREEMENT}", "billed, not credited to members", RATE],
        ["suspense", f"{imported['statements'][0]['statement'][:12]}:4 UNMATCHED", 777]]
    statement = imported["statements"][0]["statement"]
    cli.refused(2, "action", "exactly one", "reconcile", "resolve", statement[:10], "4", "--match", INVOICE,
                "--write-off", "--note", "x")
    cli.refused(4, "statement_id", "no imported statement", "reconcile", "resolve", "deadbeef", "4", "--write-off",
                "--note", "returned")
    cli.ok("reconcile", "resolve", statement[:10], "4", "--write-off", "--note", "returned to the sender",
           "--on", "2025-02-01")
    assert [i[0] for i in cli.ok("check", "--on", "2025-02-01")["open_items"]["rows"]] == [f"billed:{AGREEMENT}"]
    tb = cli.ok("report", "trial-balance", "--on", "2025-02-01")
    assert tb["totals"]["difference_rp"] == 0 and tb["totals"]["debit_rp"] > 0
    breach = cli("check", "--on", "2025-02-01", "--max-age-days", "0")
    assert breach.code == 0, str(breach)  # the clearing balance has no age; nothing else is open


def test_the_same_file_twice_records_nothing(cli: Cli, tmp_path: Path) -> None:
    path = write(tmp_path / "bank.csv", "SP2D-9001,2025-01-20,33600,1234567890,iuran")
    cli.ok("reconcile", "import", str(path), "--payer", "PEMKOT-SKW")
    cli.refused(3, "file", "already", "reconcile", "import", str(path), "--payer", "PEMKOT-SKW")
    copy = tmp_path / "renamed.csv"
    copy.write_bytes(path.read_bytes())  # same bytes under another name: still the same statement
    cli.refused(3, "file", "already", "reconcile", "import", str(copy), "--payer", "PEMKOT-SKW")


@pytest.mark.parametrize(("rows", "meta", "field", "fragment"), [
    (["SP2D-1,2025-01-20,\"16,800\",1,iuran"], PERIOD, "line 3: amount", "ambiguous"),
    (["SP2D-1,2025-01-20,16800.50,1,iuran"], PERIOD, "line 3: amount", ""),
    (["SP2D-1,2025-01-20,-16800,1,iuran"], PERIOD, "line 3: amount", "more than zero"),
    (["SP2D-1,2025-01-20,0,1,iuran"], PERIOD, "line 3: amount", "more than zero"),
    (["SP2D-1,2025-02-20,16800,1,iuran"], PERIOD, "line 3: date", "outside the statement period"),
    (["SP2D-1,2025-01-20,16800,1,ok", ",2025-01-21,16800,1,no reference"], PERIOD, "line 4: sp2d_number",
     "required"),
])
def test_bad_statement_lines_are_refused_whole(cli: Cli, tmp_path: Path, rows: list[str], meta: str, field: str,
                                               fragment: str) -> None:
    path = write(tmp_path / "bad.csv", *rows, meta=meta)
    cli.refused(2, field, fragment, "reconcile", "import", str(path), "--payer", "PEMKOT-SKW")


def test_bad_statement_files_are_refused(cli: Cli, tmp_path: Path) -> None:
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(b"PK\x03\x04 not really a workbook")
    cli.refused(2, "file", "xlsx", "reconcile", "import", str(broken), "--payer", "PEMKOT-SKW")
    truncated = tmp_path / "truncated.xlsx"
    with zipfile.ZipFile(truncated, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
    cli.refused(2, "file", "", "reconcile", "import", str(truncated), "--payer", "PEMKOT-SKW")
    mt940 = tmp_path / "statement.sta"
    mt940.write_text(MT940_BROKEN)
    cli.refused(2, "closing", "does not balance", "reconcile", "import", str(mt940), "--payer", "PEMKOT-SKW")
    good = write(tmp_path / "good.csv", "SP2D-9001,2025-01-20,33600,1234567890,iuran")
    cli.refused(4, "payer_id", "no agreement has payer", "reconcile", "import", str(good), "--payer", "NOBODY")


def mt940_day(day: int, opening: int, *moves: tuple[str, str, int, str]) -> tuple[str, int]:
    """A day statement of January 2025: (mark, value+entry date, amount, reference) per movement, each with an
    :86: naming the SP2D; and its closing balance."""
    rows = [f":20:BRI2501{day:02d}", ":25:1234567890", f":28C:{day}/1", f":60F:C2501{day:02d}IDR{opening},00"]
    closing = opening
    for mark, dates, amount, ref in moves:
        rows += [f":61:{dates}{mark}{amount},00NTRF{ref}//B{day}", f":86:SP2D {ref}/SP2D/LS/2025 {INVOICE}"]
        closing += amount if mark == "C" else -amount
    return "\n".join([*rows, f":62F:C2501{day:02d}IDR{closing},00", "-"]) + "\n", closing


@pytest.mark.slow  # seven CLI subprocesses
def test_a_file_of_several_statements_imports_each_once(cli: Cli, tmp_path: Path) -> None:
    day20, closing = mt940_day(20, 1_000_000, ("C", "2501190120", 2 * RATE, "00123"),
                               ("D", "2412310120", 6_500, "NONREF"))
    day21, closing = mt940_day(21, closing)
    day22, _ = mt940_day(22, closing, ("C", "2501220122", 777, "00124"))
    path = tmp_path / "harian.sta"
    path.write_text(day20 + day21)
    first = cli.ok("reconcile", "import", str(path), "--payer", "PEMKOT-SKW", "--on", "2025-01-31")
    assert [(r["reference"], r["status"], r["lines"], r["total_rp"]) for r in first["statements"]] == [
        ("BRI250120", "imported", 1, 2 * RATE), ("BRI250121", "no credit lines", 0, 0)]
    cli.refused(3, "file", "statement 1 BRI250120", "reconcile", "import", str(path), "--payer", "PEMKOT-SKW")
    month = tmp_path / "bulanan.txt"
    month.write_text(day20 + day21 + day22)
    shown = cli("reconcile", "import", str(month), "--payer", "PEMKOT-SKW", "--on", "2025-01-31")
    assert shown.code == 0 and shown.err == "", str(shown)
    assert "already imported" in shown.out and "Rp777" in shown.out and "1 imported" in shown.out
    before = cli.events()
    rerun = cli("reconcile", "import", str(month), "--payer", "PEMKOT-SKW")
    first_line, *details = rerun.err.splitlines()
    assert (rerun.code, rerun.out, cli.events()) == (3, "", before), str(rerun)
    assert first_line.startswith("error: file: bulanan.txt: every statement was already imported (2)")
    assert [d.split(" (")[0] for d in details] == ["  statement 1 BRI250120", "  statement 3 BRI250122"]
    assert "Rp33.600" in details[0] and "already imported" in details[1]
    bad = tmp_path / "rusak.sta"
    bad.write_text(day21 + day22.replace("777,00", "777,50"))
    cli.refused(2, "line 11: amount", "statement 2", "reconcile", "import", str(bad), "--payer", "PEMKOT-SKW")
    assert "already imported (a rerun" in cli("reconcile", "import", "--help").out


def test_bad_billing_and_refunds(cli: Cli) -> None:
    cli.ok("bill", "--agreement", AGREEMENT, "--period", "2025-02", "--on", "2025-02-01")
    cli.refused(3, "period", "already billed", "bill", "--agreement", AGREEMENT, "--period", "2025-02")
    cli.refused(2, "period", "", "bill", "--agreement", AGREEMENT, "--period", "2025-13")
    cli.refused(3, "period", "outside", "bill", "--agreement", AGREEMENT, "--period", "2025-09")
    cli.refused(4, "agreement_id", "unknown", "bill", "--agreement", "NOPE", "--period", "2025-01")
    cli.refused(4, "claim_ref", "unknown claim", "refund", "settle", "--claim", "C-NOPE", "--payer", "PEMKOT-SKW",
                "--amount", "16800", "--reference", "RF-1")
    cli.refused(2, "amount_rp", "plain digits", "refund", "settle", "--claim", "C-NOPE", "--payer", "PEMKOT-SKW",
                "--amount", "16.800", "--reference", "RF-1")

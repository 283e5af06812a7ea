"""Importing bank statements as banks deliver them (issue 10, section 4): a file of several MT940 statements is
imported statement by statement, each once; lines keep their value date beside the booking date, through the
events, the journal's register and the matching."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import pytest

from commands.authorise import Actor
from commands.messages import BillAgreement, ImportStatement, RunReconciliation, make
from commands.statement_file import read_statement, read_statements
from commands.statement_import import (
    ALREADY_IMPORTED,
    FAILED,
    IMPORTED,
    NO_CREDIT_LINES,
    NOT_TRIED,
    AllAlreadyImported,
    import_statement_file,
)
from eventstore import mapper
from eventstore.bootstrap import Ledger
from ledger.errors import IdempotencyConflict, InvalidInput
from ledger.events import StatementLinesRecorded
from ledger.principal import Scope
from ledger.statement import Statement, statement_id_for
from ledger.values import Role
from projections.money_views import MoneyViews, new_lines
from tests.conftest import execute
from tests.test_behaviour import enrol, refused, sign

PAYER = "PEMKOT-SKW"
INVOICE = "INV-SKW-TEST-2025-2025-01"
RATE_RP = 16_800


@dataclass(frozen=True)
class Move:
    """One :61: movement: mark (C, D, RC, RD), amount, value date, booking date (None: not written), customer
    reference, :86: details (None: no :86:)."""

    mark: str
    amount_rp: int
    valued: date
    booked: date | None
    reference: str = "NONREF"
    details: str | None = None

    @property
    def signed_rp(self) -> int:
        return self.amount_rp if self.mark in ("C", "RD") else -self.amount_rp


def day_statement(day: date, seq: int, opening_rp: int, moves: list[Move]) -> tuple[str, int]:
    """A bank's day statement (BRI-like: the :20: is the date and a serial) and its closing balance."""
    closing = opening_rp + sum(m.signed_rp for m in moves)
    out = [f":20:BRI{day:%y%m%d}{seq:03d}", ":25:0123456789012", f":28C:{seq}/1",
           f":60F:C{day:%y%m%d}IDR{opening_rp},00"]
    for m in moves:
        entry = f"{m.booked:%m%d}" if m.booked else ""
        out.append(f":61:{m.valued:%y%m%d}{entry}{m.mark}{m.amount_rp},00NTRF{m.reference}//{day:%y%m%d}{seq:04d}")
        if m.details is not None:
            out.append(f":86:{m.details}")
    out.append(f":62F:C{day:%y%m%d}IDR{closing},00")
    return "\n".join(out) + "\n", closing


def swift_file(path: Path, statements: list[str]) -> Path:
    """Statements in SWIFT envelopes, CRLF, as a bank's host-to-host delivery."""
    parts = [f"{{1:F01BRINIDJAXXX0000000000}}{{2:O940{i:04d}}}{{4:\n{text}-}}{{5:{{CHK:{i:012d}}}}}\n"
             for i, text in enumerate(statements, 1)]
    path.write_bytes("".join(parts).replace("\n", "\r\n").encode())
    return path


D19, D20, D21, D22, D23 = (date(2025, 1, d) for d in (19, 20, 21, 22, 23))
S20, C20 = day_statement(D20, 20, 5_000_000, [
    Move("C", 2 * RATE_RP, D19, D20, "00123", f"SP2D 00123/SP2D/LS/2025 IURAN BPU {INVOICE}"),
    Move("D", 6_500, date(2024, 12, 31), D20, "NONREF", "BIAYA ADM DESEMBER"),
])
S21, C21 = day_statement(D21, 21, C20, [Move("C", 777, D21, D21, "SALAH-TRF", "TRF MASUK")])
S22, C22 = day_statement(D22, 22, C21, [])
S23, C23 = day_statement(D23, 23, C22, [Move("C", 5_000, D23, None, "00130"),
                                        Move("RC", 5_000, D23, D23, "00130", "KOREKSI"),
                                        Move("C", 4_200, D22, D23, "00131", "SP2D 00131/SP2D/LS/2025")])


FINANCE = Actor("test-finance", frozenset({Role.FINANCE}), Scope("all"))


def import_path(ledger: Ledger, path: Path, **kw: Any) -> tuple[dict[str, Any], Any]:
    ledger.clock.set_day(D23)  # type: ignore[attr-defined]  # the statements arrive on their import day
    return import_statement_file(ledger, FINANCE, read_statements(path), PAYER, path.name, effective_on=D23, **kw)


def statuses(summary: dict[str, Any]) -> list[tuple[str | None, str]]:
    return [(row["reference"], row["status"]) for row in summary["statements"]]


def test_a_day_file_imports_each_statement_with_both_dates_and_matches_by_booking_date(
        ledger: Ledger, tmp_path: Path) -> None:
    sign(ledger)
    for i in (1, 2):
        enrol(ledger, i)
    execute(ledger, BillAgreement(agreement_id="SKW-TEST-2025", period="2025-01", effective_on=date(2025, 1, 8)))
    summary, failure = import_path(ledger, swift_file(tmp_path / "harian.sta", [S20, S21, S22]))
    assert failure is None
    assert statuses(summary) == [("BRI250120020", IMPORTED), ("BRI250121021", IMPORTED),
                                 ("BRI250122022", NO_CREDIT_LINES)]
    assert (summary["imported"], summary["lines"], summary["total_rp"]) == (2, 2, 2 * RATE_RP + 777)
    assert [r["debit_lines_skipped"] for r in summary["statements"]] == [1, 0, 0]
    views = MoneyViews(ledger.store)
    lines = {ln.reference: ln for ln in new_lines(views, PAYER)}
    assert (lines["00123/SP2D/LS/2025"].booked_on, lines["00123/SP2D/LS/2025"].value_on) == (D20, D19)
    rows = {r["reference"]: r for r in views.rows(views.journal, "statement_lines")}
    assert (rows["00123/SP2D/LS/2025"]["booked_on"], rows["00123/SP2D/LS/2025"]["value_on"]) == (
        "2025-01-20", "2025-01-19")
    result = execute(ledger, RunReconciliation(payer_id=PAYER, effective_on=D23))
    assert (result["matched"], result["exceptions"], result["matched_rp"]) == (1, 1, 2 * RATE_RP)


def test_a_rerun_records_nothing_and_says_already_imported_for_each(memory_ledger: Ledger, tmp_path: Path) -> None:
    ledger = memory_ledger
    sign(ledger)
    path = swift_file(tmp_path / "harian.sta", [S20, S21, S22])
    import_path(ledger, path)
    err = refused(ledger, AllAlreadyImported, "file", import_path, ledger, path)
    assert isinstance(err, AllAlreadyImported)
    assert statuses(err.summary) == [("BRI250120020", ALREADY_IMPORTED), ("BRI250121021", ALREADY_IMPORTED),
                                     ("BRI250122022", NO_CREDIT_LINES)]
    assert len(err.details) == 2 and "statement 1 BRI250120020" in err.details[0]
    assert "already imported" in err.details[0] and "Rp33.600" in err.details[0]
    # the month's file brings the 21st again and a new day: the 21st is refused, the 23rd imports
    month = swift_file(tmp_path / "bulanan.sta", [S21, S23])
    summary, failure = import_path(ledger, month)
    assert failure is None
    assert statuses(summary) == [("BRI250121021", ALREADY_IMPORTED), ("BRI250123023", IMPORTED)]
    assert (summary["imported"], summary["already_imported"], summary["lines"]) == (1, 1, 2)
    assert summary["total_rp"] == 5_000 + 4_200  # the reversal (RC) is money out, not a line


def test_the_same_statement_in_a_file_of_another_shape_is_already_imported(
        memory_ledger: Ledger, tmp_path: Path) -> None:
    ledger = memory_ledger
    sign(ledger)
    import_path(ledger, swift_file(tmp_path / "harian.sta", [S20, S21]))
    bare = tmp_path / "s21.txt"
    bare.write_text(S21.replace("\n", "  \n"))  # LF, trailing blanks, no envelope
    refused(ledger, AllAlreadyImported, "file", import_path, ledger, bare)


def test_a_statement_recorded_whole_by_its_files_digest_is_already_imported(
        memory_ledger: Ledger, tmp_path: Path) -> None:
    """Before statements had their own ids, an MT940 file of one statement was recorded under the file's
    SHA-256: that statement is recognised, not imported twice."""
    ledger = memory_ledger
    sign(ledger)
    path = swift_file(tmp_path / "s21.sta", [S21])
    read = read_statements(path)
    (stmt,) = read.statements
    assert stmt.sha256 != read.sha256
    old = {**stmt.import_fields(PAYER, path.name), "statement_id": read.sha256, "file_sha256": None}
    execute(ledger, make(ImportStatement, **old, effective_on=D21))
    err = refused(ledger, AllAlreadyImported, "file", import_path, ledger, path)
    assert "in file " + read.sha256[:12] in err.reason


def test_another_error_part_way_keeps_what_was_imported_and_a_rerun_resumes(
        memory_ledger: Ledger, tmp_path: Path) -> None:
    ledger = memory_ledger
    sign(ledger)
    import_path(ledger, swift_file(tmp_path / "a.sta", [S20, S21]), command_id="BPKAD-RUN-1")
    # the same command id for another file that repeats the 21st: a conflict there stops the run
    other = swift_file(tmp_path / "b.sta", [S23, S21, S22, S20.replace("BRI250120020", "BRI250120099")])
    summary, failure = import_path(ledger, other, command_id="BPKAD-RUN-1")
    assert isinstance(failure, IdempotencyConflict)
    assert statuses(summary) == [("BRI250123023", IMPORTED), ("BRI250121021", FAILED),
                                 ("BRI250122022", NOT_TRIED), ("BRI250120099", NOT_TRIED)]
    assert summary["imported"] == 1 and "command_id" in summary["statements"][1]["reason"]
    again, failure = import_path(ledger, other)
    assert failure is None
    assert statuses(again) == [("BRI250123023", ALREADY_IMPORTED), ("BRI250121021", ALREADY_IMPORTED),
                               ("BRI250122022", NO_CREDIT_LINES), ("BRI250120099", IMPORTED)]


def test_the_same_command_id_replays_each_statement(memory_ledger: Ledger, tmp_path: Path) -> None:
    ledger = memory_ledger
    sign(ledger)
    path = swift_file(tmp_path / "a.sta", [S20, S21])
    first, _ = import_path(ledger, path, command_id="BPKAD-RUN-2")
    before = ledger.store.max_notification_id()
    again, failure = import_path(ledger, path, command_id="BPKAD-RUN-2")
    assert failure is None and ledger.store.max_notification_id() == before
    assert [r["replayed"] for r in again["statements"]] == [True, True]
    assert statuses(again) == statuses(first)
    with pytest.raises(InvalidInput) as err:
        import_path(ledger, path, command_id="X" * 120)
    assert err.value.field == "command_id"


def test_a_file_without_any_credit_line_is_refused(memory_ledger: Ledger, tmp_path: Path) -> None:
    sign(memory_ledger)
    refused(memory_ledger, InvalidInput, "file", import_path, memory_ledger, swift_file(tmp_path / "q.sta", [S22]))


def test_lines_recorded_before_the_value_date_was_kept_read_with_their_booking_date(
        memory_ledger: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A v1 ``StatementLinesRecorded`` (stored before v2) has one date: events, matching input and the
    journal's register all read it as both."""
    ledger = memory_ledger
    sign(ledger)
    encode = mapper.encode_state

    def as_v1(event: Any) -> bytes:
        if not isinstance(event, StatementLinesRecorded):
            return encode(event)
        data = orjson.loads(encode(event))
        data.pop("class_version")
        for line in data["lines"]:
            line.pop("value_on")
        return orjson.dumps(data)

    path = swift_file(tmp_path / "s20.sta", [S20])
    with monkeypatch.context() as patched:
        patched.setattr(mapper, "encode_state", as_v1)
        summary, _ = import_path(ledger, path)
    statement_id = summary["statements"][0]["statement"]
    raw = [state for *_, topic, state in ledger.store.read_log(0, 1_000) if topic.endswith(":StatementLinesRecorded")]
    assert len(raw) == 1 and b"value_on" not in raw[0] and b"class_version" not in raw[0]
    stored = [e for e in ledger.store.events_of(statement_id_for(statement_id))
              if isinstance(e, StatementLinesRecorded)]
    assert [(x.booked_on, x.value_on) for e in stored for x in e.lines] == [(D20, D20)]
    views = MoneyViews(ledger.store)
    assert [(ln.booked_on, ln.value_on) for ln in new_lines(views, PAYER)] == [(D20, D20)]
    assert [r["value_on"] for r in views.rows(views.journal, "statement_lines")] == ["2025-01-20"]
    assert ledger.store.load(Statement, statement_id_for(statement_id)).state.line_count == 1
    assert read_statement(path).lines[0].value_on == D19  # the file itself says the 19th

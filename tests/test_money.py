"""Money (issue 4): billing with the budget ceiling, statement import and the reconciliation cascade,
exceptions resolved by command, refunds after a death, the journal's trial balance and checks."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, func, select, update

from commands.messages import (
    AmendBudget,
    ApproveClaim,
    BillAgreement,
    ImportStatement,
    PayClaim,
    ResolveException,
    RunReconciliation,
    SettleRefund,
    make,
)
from commands.statement_file import read_statement
from eventstore.bootstrap import Ledger
from eventstore.clock import WIB, SimulatedClock
from ledger.errors import AlreadyDone, InvalidInput, NotFound, RuleViolation
from ledger.values import BillingCadence, ClaimType
from projections.money_views import MoneyViews, checks
from projections.reports import build_report
from tests.conftest import at, execute
from tests.test_behaviour import enrol, pay, refused, sign, submit

RATE_RP = 16_800
NOW = datetime(2026, 11, 1, 9, tzinfo=WIB)


def statement_file(path: Path, lines: list[tuple[str, str, str, str]], period: str = "2025-01-01..2025-12-31",
                   ) -> Path:
    """A CSV statement: (sp2d, date, amount, description) per line."""
    rows = [f"# period: {period}", "sp2d_number,date,amount,account,description"]
    rows += [f"{ref},{day},{amount},1234567890,{text}" for ref, day, amount, text in lines]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def import_file(ledger: Ledger, path: Path, payer: str = "PEMKOT-SKW") -> dict[str, Any]:
    parsed = read_statement(path)
    return execute(ledger, make(ImportStatement, **parsed.import_fields(payer, path.name),
                                effective_on=parsed.period_end))


def bill(ledger: Ledger, period: str, code: str = "SKW-TEST-2025", on: date = date(2025, 1, 8)) -> dict[str, Any]:
    return execute(ledger, BillAgreement(agreement_id=code, period=period, effective_on=on))


def reconciliation(ledger: Ledger, code: str = "SKW-TEST-2025", on: date = date(2025, 12, 31)) -> dict[str, Any]:
    return build_report(ledger.store, "reconciliation", on, None, NOW, code)


def months(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    section = report["sections"]["months"]
    return {row[0]: dict(zip(section["columns"], row, strict=True)) for row in section["rows"]}


# --- billing -------------------------------------------------------------------------------------


def test_bill_invoices_expected_members_and_flags_the_budget(ledger: Ledger) -> None:
    sign(ledger, budget_rp=3 * 6 * RATE_RP)  # exactly the window's cost: at the ceiling, a warning
    for i in (1, 2, 3):
        enrol(ledger, i)
    result = bill(ledger, "2025-01")
    assert result["invoice"] == "INV-SKW-TEST-2025-2025-01"
    assert result["members"] == {"2025-01": 3} and result["amount_rp"] == 3 * RATE_RP
    assert result["expected_window_rp"] == 18 * RATE_RP and result["budget_status"] == "WARNING"
    execute(ledger, AmendBudget(agreement_id="SKW-TEST-2025", budget_rp=18 * RATE_RP - 1, reason="APBD-P cut",
                                effective_on=date(2025, 1, 9)))
    assert bill(ledger, "2025-02")["budget_status"] == "OVER_BUDGET"
    report = reconciliation(ledger)
    assert report["totals"]["budget_status"] == "OVER_BUDGET"
    assert report["totals"]["expected_rp"] == 18 * RATE_RP and report["totals"]["billed_rp"] == 6 * RATE_RP


def test_annual_cadence_bills_the_whole_block_once(memory_ledger: Ledger) -> None:
    ledger = memory_ledger
    sign(ledger, last="2025-12", billing_cadence=BillingCadence.ANNUAL)
    enrol(ledger, 1)
    result = bill(ledger, "2025-07")
    assert result["periods"][0] == "2025-01" and len(result["periods"]) == 12
    assert result["amount_rp"] == 12 * RATE_RP and result["invoice"] == "INV-SKW-TEST-2025-2025-01"
    refused(ledger, AlreadyDone, "period", bill, ledger, "2025-03")


def test_bad_billing_is_refused_and_writes_nothing(memory_ledger: Ledger) -> None:
    ledger = memory_ledger
    sign(ledger)
    refused(ledger, NotFound, "agreement_id", bill, ledger, "2025-01", "NO-SUCH")
    refused(ledger, RuleViolation, "period", bill, ledger, "2025-09")
    refused(ledger, RuleViolation, "period", bill, ledger, "2025-01")  # nobody enrolled: nothing to bill
    with pytest.raises(InvalidInput) as info:
        make(BillAgreement, agreement_id="SKW-TEST-2025", period="2025-13")
    assert info.value.field == "period"


# --- statements and the cascade ------------------------------------------------------------------


def test_statement_lines_match_by_reference_window_and_group(ledger: Ledger, tmp_path: Path) -> None:
    sign(ledger)
    for i in (1, 2):
        enrol(ledger, i)
    for period, on in (("2025-01", date(2025, 1, 8)), ("2025-02", date(2025, 2, 3)), ("2025-03", date(2025, 3, 3)),
                       ("2025-04", date(2025, 4, 2))):
        bill(ledger, period, on=on)
    two = 2 * RATE_RP
    path = statement_file(tmp_path / "bank.csv", [
        ("SP2D-001", "2025-01-20", str(two), "Iuran INV-SKW-TEST-2025-2025-01"),  # reference + amount
        ("SP2D-002", "2025-02-10", str(two), "iuran februari"),  # amount within the date window
        ("SP2D-003", "2025-04-10", str(2 * two), "iuran maret april"),  # one transfer, two invoices
        ("SP2D-004", "2025-04-11", "5000", "salah transfer"),  # nothing explains it
    ])
    imported = import_file(ledger, path)
    assert imported["lines"] == 4
    result = execute(ledger, RunReconciliation(payer_id="PEMKOT-SKW", effective_on=date(2025, 4, 30)))
    assert (result["matched"], result["exceptions"], result["matched_rp"]) == (3, 1, 4 * two)
    by_month = months(reconciliation(ledger))
    assert [by_month[p]["received_rp"] for p in ("2025-01", "2025-02", "2025-03", "2025-04")] == [two] * 4
    assert by_month["2025-05"]["billed_rp"] == 0 and by_month["2025-05"]["expected_rp"] == two
    report = reconciliation(ledger)
    assert report["totals"]["open_exceptions"] == 1
    # a second run finds nothing new; the same file again records nothing
    again = execute(ledger, RunReconciliation(payer_id="PEMKOT-SKW", effective_on=date(2025, 4, 30)))
    assert again["matched"] == again["exceptions"] == 0
    refused(ledger, AlreadyDone, "file", import_file, ledger, path)
    check = checks(MoneyViews(ledger.store), date(2025, 4, 30), None)
    assert check["ok"] and check["debit_rp"] == check["credit_rp"]
    assert any(item[0] == "suspense" for item in check["open_items"]["rows"])
    assert not checks(MoneyViews(ledger.store), date(2025, 8, 30), 30)["ok"]  # the suspense item is now old


def test_check_names_every_entry_of_an_unbalanced_or_missing_shape(memory_ledger: Ledger) -> None:
    """Entries keep their legs by shape (equal entries share one set of leg rows): a leg edited in the views,
    or a shape's legs gone, is a breach naming each entry that posts it."""
    ledger = memory_ledger
    sign(ledger)
    for i in (1, 2, 3):
        enrol(ledger, i)
        pay(ledger, i, ["2025-01"], RATE_RP, f"REF-{i}")
    views = MoneyViews(ledger.store)
    assert checks(views, date(2025, 1, 31), None)["ok"]
    entries_t, legs_t = views.journal.table("journal_entries"), views.journal.table("journal_shapes")
    with views.engine.begin() as conn:
        posted = conn.execute(select(entries_t.c.position, entries_t.c.shape).order_by(entries_t.c.position)).all()
        assert len(posted) == 3 and len({shape for _, shape in posted}) == 3  # a memo names its reference
        _, shape = posted[1]
        legs = conn.execute(select(func.count()).where(legs_t.c.shape == shape)).scalar_one()
        assert legs >= 2
        conn.execute(update(legs_t).where(legs_t.c.shape == shape, legs_t.c.leg == 1)
                     .values(debit_rp=legs_t.c.debit_rp + 1))
    check = checks(views, date(2025, 1, 31), None)
    assert not check["ok"]
    assert [b for b in check["breaches"] if b.startswith("entry")] == [
        f"entry at position {posted[1].position}: {legs} leg(s), off by Rp1"]
    with views.engine.begin() as conn:
        conn.execute(delete(legs_t).where(legs_t.c.shape == shape))
    breaches = checks(views, date(2025, 1, 31), None)["breaches"]
    assert [b for b in breaches if b.startswith("entry")] == [f"entry at position {posted[1].position}: 0 leg(s), "
                                                              "off by Rp0"]


def test_exceptions_are_resolved_by_command(memory_ledger: Ledger, tmp_path: Path) -> None:
    ledger = memory_ledger
    sign(ledger)
    for i in (1, 2):
        enrol(ledger, i)
    bill(ledger, "2025-01")
    path = statement_file(tmp_path / "bank.csv", [
        ("SP2D-010", "2025-01-20", str(RATE_RP), "INV-SKW-TEST-2025-2025-01 sebagian"),  # partial: amount mismatch
        ("SP2D-011", "2025-01-21", str(RATE_RP), "INV-SKW-TEST-2025-2025-01 sisa"),  # the rest, also a mismatch
        ("SP2D-012", "2025-01-22", "777", "salah transfer"),
        ("SP2D-012", "2025-01-22", "777", "salah transfer"),  # the same transfer twice: a duplicate
    ])
    statement = import_file(ledger, path)["statement"]
    result = execute(ledger, RunReconciliation(effective_on=date(2025, 1, 31)))
    assert result["exceptions"] == 4
    views = MoneyViews(ledger.store)
    kinds = {r["line_no"]: r["kind"] for r in views.rows(views.journal, "exceptions")}
    assert kinds == {3: "AMOUNT_MISMATCH", 4: "AMOUNT_MISMATCH", 5: "UNMATCHED", 6: "DUPLICATE"}

    def resolve(line: int, action: str, refs: list[str] | None = None, note: str = "checked with BPKAD") -> Any:
        return execute(ledger, ResolveException(statement_id=statement[:12], line_no=line, action=action,
                                                invoice_refs=refs or [], note=note, effective_on=date(2025, 2, 2)))

    resolve(3, "MATCH", ["INV-SKW-TEST-2025-2025-01"])
    resolve(4, "MATCH", ["INV-SKW-TEST-2025-2025-01"])
    refused(ledger, RuleViolation, "invoice", resolve, 5, "MATCH", ["INV-SKW-TEST-2025-2025-01"])  # paid in full
    refused(ledger, NotFound, "invoice", resolve, 5, "MATCH", ["INV-NOPE"])
    refused(ledger, InvalidInput, "invoice", resolve, 5, "WRITE_OFF", ["INV-SKW-TEST-2025-2025-01"])
    resolve(5, "SUSPENSE")
    refused(ledger, AlreadyDone, "action", resolve, 5, "SUSPENSE")
    resolve(5, "WRITE_OFF")
    resolve(6, "WRITE_OFF")
    refused(ledger, AlreadyDone, "line_no", resolve, 6, "WRITE_OFF")
    refused(ledger, NotFound, "line_no", resolve, 99, "WRITE_OFF")
    refused(ledger, NotFound, "line_no", resolve, 99, "MATCH", ["INV-SKW-TEST-2025-2025-01"])
    refused(ledger, AlreadyDone, "line_no", resolve, 3, "MATCH", ["INV-SKW-TEST-2025-2025-01"])
    refused(ledger, NotFound, "statement_id", execute, ledger, ResolveException(
        statement_id="deadbeef", line_no=3, action="WRITE_OFF", note="x"))
    report = reconciliation(ledger)
    assert months(report)["2025-01"]["received_rp"] == 2 * RATE_RP and report["totals"]["open_exceptions"] == 0
    tb = build_report(ledger.store, "trial-balance", date(2025, 2, 28), None, NOW)
    assert tb["totals"]["difference_rp"] == 0
    balances = {row[0]: row[5] for row in tb["sections"]["accounts"]["rows"]}
    assert balances["suspense"] == 0 and balances["receivable:SKW-TEST-2025"] == 0


def test_bad_statement_import_is_refused(memory_ledger: Ledger, tmp_path: Path) -> None:
    ledger = memory_ledger
    sign(ledger)
    path = statement_file(tmp_path / "bank.csv", [("SP2D-1", "2025-01-20", "16800", "x")])
    refused(ledger, NotFound, "payer_id", import_file, ledger, path, "NO-SUCH-PAYER")


# --- refunds and the journal ---------------------------------------------------------------------


def test_refund_after_death_is_listed_then_settled(ledger: Ledger, clock: SimulatedClock) -> None:
    sign(ledger, last="2025-12", billing_cadence=BillingCadence.ANNUAL)
    enrol(ledger, 1)
    pay(ledger, 1, ["2025-01..2025-12"], 12 * RATE_RP, "SP2D-Y")
    at(clock, date(2025, 5, 20))
    submit(ledger, "C-1", 1, ClaimType.JKM_DEATH, date(2025, 5, 14), date(2025, 5, 20))
    execute(ledger, ApproveClaim(claim_id="C-1", effective_on=date(2025, 5, 28)))
    report = reconciliation(ledger, on=date(2025, 6, 30))
    refund = report["sections"]["refunds"]["rows"]
    assert [(r[0], r[1], r[3], r[5]) for r in refund] == [("C-1", "PEMKOT-SKW", 7 * RATE_RP, None)]
    assert report["totals"]["refunds_due_rp"] == 7 * RATE_RP
    open_items = checks(MoneyViews(ledger.store), date(2025, 6, 30), None)["open_items"]["rows"]
    assert {i[0] for i in open_items} >= {"claims-payable", "refunds-payable:PEMKOT-SKW"}
    execute(ledger, PayClaim(claim_id="C-1", payment_reference="PAYOUT-1", effective_on=date(2025, 6, 3)))
    refused(ledger, RuleViolation, "amount_rp", execute, ledger, SettleRefund(
        claim_ref="C-1", payer_id="PEMKOT-SKW", amount_rp=RATE_RP, payment_reference="RF-1"))
    refused(ledger, NotFound, "claim_ref", execute, ledger, SettleRefund(
        claim_ref="C-1", payer_id="SOMEBODY", amount_rp=7 * RATE_RP, payment_reference="RF-1"))
    execute(ledger, SettleRefund(claim_ref="C-1", payer_id="PEMKOT-SKW", amount_rp=7 * RATE_RP,
                                 payment_reference="RF-1", effective_on=date(2025, 7, 1)))
    after = reconciliation(ledger, on=date(2025, 7, 31))
    assert after["totals"]["refunds_due_rp"] == 0 and after["totals"]["refunds_settled_rp"] == 7 * RATE_RP
    tb = build_report(ledger.store, "trial-balance", date(2025, 7, 31), None, NOW)
    balances = {row[0]: row[5] for row in tb["sections"]["accounts"]["rows"]}
    assert tb["totals"]["difference_rp"] == 0
    assert balances["claims-payable"] == 0 and balances["refunds-payable:PEMKOT-SKW"] == 0
    funds = {row[0]: row for row in tb["sections"]["funds"]["rows"]}
    # out: the benefit and the JKM share (Rp6,800 a month) of the 7 refunded months; the pool pays more than came in
    assert funds["JKM"][2] == 42_000_000 + 7 * 6_800 and funds["JKM"][3] < 0
    assert checks(MoneyViews(ledger.store), date(2025, 7, 31), None)["ok"]


def test_billing_blocks_follow_the_cadence_from_the_window_start() -> None:
    from ledger.billing import billing_block
    from ledger.values import Period

    first, last = Period.parse("2025-12"), Period.parse("2026-11")
    block = billing_block(first, last, BillingCadence.SEMESTER, Period.parse("2026-03"))
    assert [str(p) for p in block] == ["2025-12", "2026-01", "2026-02", "2026-03", "2026-04", "2026-05"]
    block = billing_block(first, Period.parse("2026-07"), BillingCadence.SEMESTER, Period.parse("2026-07"))
    assert [str(p) for p in block] == ["2026-06", "2026-07"]  # clipped to the window
    assert len(billing_block(first, last, BillingCadence.ANNUAL, last)) == 12


def test_trial_balance_as_of_reproduces_what_was_known(memory_ledger: Ledger) -> None:
    ledger = memory_ledger
    clock = ledger.clock
    assert isinstance(clock, SimulatedClock)
    sign(ledger)
    enrol(ledger, 1)
    clock.set_day(date(2025, 1, 8))
    bill(ledger, "2025-01")
    known = datetime(2025, 1, 8, 23, tzinfo=WIB)
    before = build_report(ledger.store, "trial-balance", date(2025, 1, 31), None, NOW)
    clock.set_day(date(2025, 1, 20))
    pay(ledger, 1, ["2025-01"], RATE_RP, "SP2D-LATER", on=date(2025, 1, 20))
    after = build_report(ledger.store, "trial-balance", date(2025, 1, 31), None, NOW)
    as_of = build_report(ledger.store, "trial-balance", date(2025, 1, 31), known, NOW)
    assert after["sections"] != before["sections"]
    assert as_of["sections"] == before["sections"] and as_of["totals"] == before["totals"]


def test_shapes_already_stored_are_not_written_again_in_any_chunk(monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch's shapes are looked up in chunks (SQLite bounds the parameters of one statement); every chunk
    counts: shapes stored by an earlier batch, in any chunk, are not inserted twice."""
    from ledger.journal import Entry, Leg
    from projections import journal
    from projections.runner import memory_views_engine

    monkeypatch.setattr(journal, "SHAPES_PER_QUERY_MAX", 2)
    engine = memory_views_engine()
    projection = journal.Journal(1)
    projection.create_tables(engine)

    def entries(amounts: range) -> dict[str, Entry]:
        made = [Entry(f"test {a}", (Leg("bank", a, 0), Leg("suspense", 0, a))) for a in amounts]
        return {journal.shape_id(e): e for e in made}

    with engine.begin() as conn:
        projection._add_shapes(conn, entries(range(1, 6)))
    with engine.begin() as conn:  # the five again (three chunks) and two new ones
        projection._add_shapes(conn, entries(range(1, 8)))
    legs = projection.table("journal_shapes")
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(legs)).scalar_one() == 7 * 2

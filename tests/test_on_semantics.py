"""``--on D`` means "as the business stood on D", in every report and view (each case fails on the old code)."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

from commands.authorise import Actor
from commands.messages import ApproveClaim, PayClaim, RunReconciliation
from eventstore.bootstrap import Ledger
from eventstore.clock import WIB
from ledger.errors import NotFound, RuleViolation
from ledger.principal import Scope
from ledger.values import ClaimType, Role
from projections.money_views import MoneyViews
from projections.reports import build_report
from tests.conftest import agreement_view, execute
from tests.test_behaviour import AGREEMENT, enrol, pay, refused, sign, submit
from tests.test_money import bill, import_file, statement_file

RATE = 16_800
OTHER = "PNK-TEST-2025"
NOW = datetime(2026, 11, 1, 9, tzinfo=WIB)


@pytest.fixture
def ledger(memory_ledger: Ledger) -> Ledger:
    return memory_ledger


def report(ledger: Ledger, name: str, on: date, agreement: str | None = None, **kw: Any) -> dict[str, Any]:
    return build_report(ledger.store, name, on, None, NOW, agreement, **kw)


def rows(rep: dict[str, Any], section: str) -> dict[Any, dict[str, Any]]:
    s = rep["sections"][section]
    return {tuple(r[:2]) if section == "by_agreement_period" else r[0]: dict(zip(s["columns"], r, strict=True))
            for r in s["rows"]}


def two_agreements(ledger: Ledger) -> None:
    """Singkawang from January (members 1, 2); Pontianak signed 10 Feb, member 3 enrolled 11 Feb."""
    sign(ledger, last="2025-12")
    enrol(ledger, 1)
    enrol(ledger, 2)
    sign(ledger, OTHER, first="2025-02", last="2025-12", effective_on=date(2025, 2, 10), payer_id="PEMKOT-PNK")
    enrol(ledger, 3, OTHER, on=date(2025, 2, 11))
    pay(ledger, 1, ["2025-01"], RATE, "R-1-JAN")
    pay(ledger, 1, ["2025-02"], RATE, "R-1-FEB", on=date(2025, 2, 5))
    pay(ledger, 3, ["2025-02"], RATE, "R-3-FEB", on=date(2025, 2, 12))


def test_members_on_a_day_count_only_chains_enrolled_by_then(ledger: Ledger) -> None:
    two_agreements(ledger)
    january = report(ledger, "members", date(2025, 1, 31))
    by_agreement = rows(january, "by_agreement")
    assert OTHER not in by_agreement, "enrolled on 11 Feb: not a member on 31 Jan"
    assert by_agreement[AGREEMENT]["enrolled"] == 2
    assert january["totals"]["enrolled_chains"] == 2
    for on in (date(2025, 1, 31), date(2025, 2, 28)):
        rep = report(ledger, "members", on)
        enrolled = sum(r["enrolled"] for r in rows(rep, "by_agreement").values())
        assert enrolled == sum(r["enrolments"] for r in rows(rep, "by_month").values()) == rep["totals"][
            "enrolled_chains"]
    assert rows(report(ledger, "members", date(2025, 2, 28)), "by_agreement")[OTHER]["enrolled"] == 1


def test_agreement_show_on_a_day_counts_payments_made_by_then(ledger: Ledger) -> None:
    two_agreements(ledger)
    view = agreement_view(ledger, AGREEMENT, date(2025, 1, 31), None)
    assert view["contributions_paid_rp"] == RATE and view["members_enrolled"] == 2
    assert agreement_view(ledger, AGREEMENT, date(2025, 2, 28), None)["contributions_paid_rp"] == 2 * RATE
    with pytest.raises(NotFound, match="signed on 2025-02-10, after 2025-01-31"):
        agreement_view(ledger, OTHER, date(2025, 1, 31), None)
    assert report(ledger, "balances", date(2025, 1, 31))["totals"]["paid_rp"] == RATE


def test_budget_amendments_count_from_their_business_day(ledger: Ledger) -> None:
    from commands.messages import AmendBudget, ConfirmBudget

    sign(ledger, last="2025-12")
    proposed = execute(ledger, AmendBudget(agreement_id=AGREEMENT, budget_rp=50_000_000, reason="APBD-P",
                                           effective_on=date(2025, 8, 20)))
    assert proposed["status"] == "AWAITING_CONFIRMATION"  # halving it is above the four-eyes threshold
    assert agreement_view(ledger, AGREEMENT, date(2025, 8, 31), None)["budget_rp"] == 100_000_000
    second = Actor("budget-owner-2", frozenset({Role.BUDGET_OWNER}), Scope("all"))
    execute(ledger, ConfirmBudget(agreement_id=AGREEMENT, budget_rp=50_000_000, effective_on=date(2025, 9, 1)),
            second)
    enrol(ledger, 1)
    assert agreement_view(ledger, AGREEMENT, date(2025, 8, 31), None)["budget_rp"] == 100_000_000
    assert agreement_view(ledger, AGREEMENT, date(2025, 9, 1), None)["budget_rp"] == 50_000_000
    assert report(ledger, "reconciliation", date(2025, 8, 31), AGREEMENT)["totals"]["budget_rp"] == 100_000_000
    assert report(ledger, "reconciliation", date(2025, 9, 30), AGREEMENT)["totals"]["budget_rp"] == 50_000_000


def test_a_matched_transfer_counts_from_its_booking_day_in_reconciliation_and_journal(ledger: Ledger,
                                                                                     tmp_path: Path) -> None:
    sign(ledger, last="2025-12")
    enrol(ledger, 1)
    bill(ledger, "2025-01")
    pay(ledger, 1, ["2025-01"], RATE, "R-1-JAN")
    path = statement_file(tmp_path / "jan.csv", [("SP2D-JAN", "2025-01-20", str(RATE), "iuran januari")],
                          period="2025-01-01..2025-01-31")
    ledger.clock.set_day(date(2025, 3, 31))  # the statement arrives and is matched two months later
    import_file(ledger, path)
    assert execute(ledger, RunReconciliation(payer_id="PEMKOT-SKW", effective_on=date(2025, 3, 31)))["matched"] == 1
    january = report(ledger, "reconciliation", date(2025, 1, 31), AGREEMENT)
    assert january["totals"]["received_rp"] == RATE
    before = report(ledger, "reconciliation", date(2025, 1, 19), AGREEMENT)
    assert before["totals"]["received_rp"] == 0
    accounts = {r[0]: r[5] for r in report(ledger, "trial-balance", date(2025, 1, 31))["sections"]["accounts"]["rows"]}
    assert accounts.get(f"receivable:{AGREEMENT}", 0) == 0, "billed and received by 31 Jan: nothing open"
    assert accounts["bank:collection"] == RATE
    journal = MoneyViews(ledger.store).journal.table("journal_entries")
    views = MoneyViews(ledger.store)
    with views.engine.connect() as conn:
        dated = {(str(e), str(d)) for e, d in conn.execute(journal.select().with_only_columns(
            journal.c.effective_on, journal.c.decided_on))}
    assert ("2025-01-20", "2025-03-31") in dated  # the booking day, and the matching day beside it


def test_claims_are_filed_under_their_business_day_and_status_then(ledger: Ledger) -> None:
    sign(ledger, last="2025-12")
    enrol(ledger, 1)
    pay(ledger, 1, ["2025-01..2025-06"], 6 * RATE, "R-1-H1")
    ledger.clock.set_day(date(2025, 6, 30))  # recorded late: submitted on 8 March, approved 1 April
    submit(ledger, "CLM-1", 1, ClaimType.JKM_DEATH, date(2025, 3, 1), date(2025, 3, 8))
    execute(ledger, ApproveClaim(claim_id="CLM-1", effective_on=date(2025, 4, 1)))
    execute(ledger, PayClaim(claim_id="CLM-1", payment_reference="PAY-1", effective_on=date(2025, 4, 15)))
    assert report(ledger, "claims", date(2025, 3, 7))["totals"]["claims"] == 0
    march = report(ledger, "claims", date(2025, 3, 10))
    assert march["totals"]["claims"] == 1 and march["totals"]["paid_rp"] == 0
    assert [r[:2] for r in march["sections"]["by_type_status"]["rows"]] == [["JKM_DEATH", "SUBMITTED"]]
    assert [r[:2] for r in report(ledger, "claims", date(2025, 4, 2))["sections"]["by_type_status"]["rows"]] == [
        ["JKM_DEATH", "APPROVED"]]
    june = report(ledger, "claims", date(2025, 6, 30))
    assert june["totals"]["paid_rp"] == 42_000_000 and june["totals"]["days_submission_to_payment_avg"] == 38


def test_reconciliation_for_one_period_totals_that_period(ledger: Ledger) -> None:
    two_agreements(ledger)
    bill(ledger, "2025-01")
    bill(ledger, "2025-02", on=date(2025, 2, 3))
    whole = report(ledger, "reconciliation", date(2025, 3, 31), AGREEMENT)
    one = report(ledger, "reconciliation", date(2025, 3, 31), AGREEMENT, period="2025-02")
    (row,) = one["sections"]["months"]["rows"]
    columns = one["sections"]["months"]["columns"]
    month = dict(zip(columns, row, strict=True))
    for key in ("expected_rp", "billed_rp", "paid_rp", "received_rp"):
        assert one["totals"][key] == month[key], key
    assert whole["totals"]["expected_rp"] > one["totals"]["expected_rp"]
    assert one["period"] == "2025-02"


def test_self_paying_members_are_in_the_balances(ledger: Ledger) -> None:
    sign(ledger, last="2025-12")
    enrol(ledger, 1)
    enrol(ledger, 9, None, on=date(2025, 1, 10), declared_income_rp=2_000_000)
    pay(ledger, 1, ["2025-01"], RATE, "R-1-JAN")
    self_rate = 20_000 + 6_800  # JKK 1 % of Rp2.000.000, JKM flat
    pay(ledger, 9, ["2025-01"], self_rate, "R-9-JAN", on=date(2025, 1, 12))
    rep = report(ledger, "balances", date(2025, 1, 31))
    payers = rows(rep, "by_payer")
    assert payers["SELF"]["paid_rp"] == self_rate
    programmes = rows(rep, "by_programme")
    assert programmes["JKK"]["contributions_in_rp"] == 10_000 + 20_000
    assert programmes["JKM"]["contributions_in_rp"] == 2 * 6_800
    cells = rows(rep, "by_agreement_period")
    assert cells[("SELF", "2025-01")]["paid_rp"] == self_rate
    assert cells[("SELF", "2025-01")]["members_expected"] == 1
    assert rep["totals"]["paid_rp"] == RATE + self_rate


def test_a_payment_may_cover_up_to_twelve_months_after_the_current_one(ledger: Ledger) -> None:
    enrol(ledger, 9, None, on=date(2025, 12, 1), declared_income_rp=1_000_000)
    err = refused(ledger, RuleViolation, "periods", pay, ledger, 9, ["2027-01"], RATE, "R-FAR", on=date(2025, 12, 28))
    assert "up to 12 months after it, so at the latest 2026-12" in err.reason
    result = pay(ledger, 9, ["2026-01..2026-12"], 12 * RATE, "R-YEAR", on=date(2025, 12, 28))
    assert result["periods"][-1] == "2026-12"


def test_other_members_are_not_expected_before_they_are_enrolled(ledger: Ledger) -> None:
    sign(ledger, last="2025-12")
    enrol(ledger, 1)
    enrol(ledger, 2, on=date(2025, 3, 3))
    early = report(ledger, "reconciliation", date(2025, 1, 31), AGREEMENT)
    assert early["totals"]["expected_rp"] == 12 * RATE  # member 1 for the whole window; member 2 not yet known
    assert early["sections"]["budget"]["rows"][0][3] == 12 * RATE
    later = report(ledger, "reconciliation", date(2025, 3, 31), AGREEMENT)
    assert later["totals"]["expected_rp"] == (12 + 10) * RATE


def test_a_workforce_figure_recorded_again_for_the_same_day_corrects_it(ledger: Ledger) -> None:
    from commands.messages import RecordWorkforce

    sign(ledger, last="2025-12")
    enrol(ledger, 1)
    for people in (1_000, 800):  # BPS revised the figure: the projection used to stop on the second one
        execute(ledger, RecordWorkforce(region_code="61.72", workforce=people, source="BPS Sakernas",
                                        effective_on=date(2025, 1, 10)))
    rows_ = report(ledger, "coverage", date(2025, 1, 31))["sections"]["by_region"]["rows"]
    assert rows_ == [["61.72", 1, 800, "0.12"]]

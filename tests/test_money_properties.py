"""Property (issue 4): random agreements, cohorts, invoices, payments, transfers (exact, partial, late,
duplicate, grouped, stray), deaths and resolutions → the trial balance is zero, every entry balanced, and the
reconciliation totals equal a brute-force recomputation from the events themselves."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from commands import bulk
from commands.messages import (
    ApproveClaim,
    BillAgreement,
    CohortRow,
    ImportCohort,
    PayCohort,
    ResolveException,
    RunReconciliation,
    SignAgreement,
    SubmitClaim,
)
from eventstore.bootstrap import Ledger, bootstrap
from eventstore.clock import WIB, SimulatedClock
from ledger.errors import RuleViolation
from ledger.values import BillingCadence, ClaimType, FundSource, PayerType, Period
from projections.money_views import MoneyViews, checks, invoice_outstanding, reconciliation_report
from tests.conftest import execute, nik
from tests.test_money import import_file, statement_file

WINDOW = [f"2025-{m:02d}" for m in range(1, 7)]
MODES = ("exact", "partial", "late", "duplicate", "grouped", "omitted")


@st.composite
def scenarios(draw: Any) -> dict[str, Any]:
    agreements = []
    for k in range(draw(st.integers(1, 2))):
        agreements.append({
            "code": f"AGR-{k}", "payer": draw(st.sampled_from(["PAYER-A", "PAYER-B"])),
            "cadence": draw(st.sampled_from([BillingCadence.MONTHLY, BillingCadence.ANNUAL])),
            "members": draw(st.integers(1, 3)),
            "death": draw(st.none() | st.tuples(st.integers(0, 2), st.integers(1, 5))),
            "modes": draw(st.lists(st.sampled_from(MODES), min_size=6, max_size=6)),
            "pay_delay_days": draw(st.lists(st.integers(0, 40), min_size=6, max_size=6)),
        })
    return {"agreements": agreements, "stray": draw(st.booleans()), "resolve": draw(st.booleans())}


def _brute_force(ledger: Ledger) -> dict[str, dict[str, int]]:
    """The four totals and the refunds per agreement, folded straight from the stored events."""
    out: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    enrolled: dict[str, tuple[str, str]] = {}  # member → (agreement, first period)
    lapsed: dict[str, str] = {}
    died: dict[str, str] = {}
    settled: dict[tuple[str, str], int] = {}
    refunds: list[tuple[str | None, str, str, int]] = []
    for n in ledger.store.select_notifications(1, 1_000_000):
        e = ledger.store.mapper.to_domain_event(n)
        kind, d = type(e).__name__, e.model_dump(mode="json")
        m = str(e.originator_id)
        if kind == "InvoiceIssued":
            out[d["agreement_code"]]["billed_rp"] += d["amount_rp"]
        elif kind == "ContributionPaid" and d["agreement_code"]:
            out[d["agreement_code"]]["paid_rp"] += d["amount_rp"]
        elif kind == "StatementLinesMatched":
            for match in d["matches"]:
                for a in match["allocations"]:
                    out[a["agreement_code"]]["received_rp"] += a["amount_rp"]
        elif kind == "ReconciliationExceptionResolved":
            for a in d["allocations"]:
                out[a["agreement_code"]]["received_rp"] += a["amount_rp"]
        elif kind == "MemberEnrolled":
            enrolled[m] = (d["agreement_code"], d["first_period"])
        elif kind == "CoverageLapsed":
            lapsed[m] = d["effective_on"][:7]
        elif kind == "MemberDied":
            died[m] = d["effective_on"][:7]
        elif kind == "ContributionRefundDue":
            refunds.append((d["agreement_code"], d["claim_ref"], d["payer_id"], d["amount_rp"]))
        elif kind == "ContributionRefundSettled":
            settled[(d["claim_ref"], d["payer_id"])] = d["amount_rp"]
    for member, (code, first) in enrolled.items():  # calendar-month agreements: the period is the month
        months = [p for p in WINDOW if p >= first and (member not in lapsed or p < lapsed[member])
                  and (member not in died or p <= died[member])]
        out[code]["expected_rp"] += 16_800 * len(months)
    for code, claim, payer, amount in refunds:
        if code is not None and (claim, payer) not in settled:
            out[code]["refunds_due_rp"] += amount
    return out


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(scenario=scenarios())
def test_trial_balance_is_zero_and_totals_equal_a_brute_force(scenario: dict[str, Any], tmp_path: Path) -> None:
    bulk.SHOW_PROGRESS = False
    clock = SimulatedClock(datetime(2025, 1, 2, 8, tzinfo=WIB))
    ledger = bootstrap("memory://", clock=clock)
    try:
        _play(ledger, clock, scenario, tmp_path)
        views = MoneyViews(ledger.store)
        on = date(2025, 12, 31)
        result = checks(views, on, None)
        assert result["ok"], result["breaches"]
        assert result["debit_rp"] == result["credit_rp"]
        expected = _brute_force(ledger)
        for a in scenario["agreements"]:
            _, totals = reconciliation_report(views, a["code"], on)
            for key in ("expected_rp", "billed_rp", "paid_rp", "received_rp", "refunds_due_rp"):
                assert totals[key] == expected[a["code"]][key], (a["code"], key, totals, dict(expected[a["code"]]))
            assert totals["received_rp"] <= totals["billed_rp"]
    finally:
        ledger.close()


def _play(ledger: Ledger, clock: SimulatedClock, scenario: dict[str, Any], tmp_path: Path) -> None:
    person = 0
    lines: dict[str, list[tuple[str, str, str, str]]] = defaultdict(list)
    for a in scenario["agreements"]:
        code = a["code"]
        clock.set_day(date(2025, 1, 1))
        execute(ledger, SignAgreement(
            agreement_id=code, name=code, payer_id=a["payer"], payer_name=a["payer"], payer_type=PayerType.APBD_KOTA,
            fund_source=FundSource.APBD, region_code="61.72", first_period=WINDOW[0], last_period=WINDOW[-1],
            budget_rp=10_000_000, billing_cadence=a["cadence"], effective_on=date(2025, 1, 1)))
        rows = []
        for k in range(a["members"]):
            rows.append((k + 2, CohortRow(nik=nik(person), name=f"W {person}", role="PETANI")))
            a.setdefault("niks", []).append(nik(person))
            person += 1
        clock.set_day(date(2025, 1, 1))  # enrolled on the signing day: the first bill and payment are not earlier
        execute(ledger, ImportCohort(agreement_id=code, rows=rows, effective_on=date(2025, 1, 1)))
    invoices: list[tuple[dict[str, Any], dict[str, Any], int]] = []
    for a in scenario["agreements"]:
        blocks = [[p] for p in WINDOW] if a["cadence"] is BillingCadence.MONTHLY else [WINDOW]
        for i, block in enumerate(blocks):
            day = Period.parse(block[0]).start()
            clock.set_day(day)
            try:
                invoice = execute(ledger, BillAgreement(agreement_id=a["code"], period=block[0], effective_on=day))
                invoices.append((a, invoice, i))
            except RuleViolation as refused:  # everyone died earlier: nobody is expected, nothing to bill
                if "no member" not in refused.reason:
                    raise
                continue
            paid_on = day + timedelta(days=a["pay_delay_days"][i])
            clock.set_day(paid_on)
            quote = bulk.quote_cohort(ledger, a["code"], block, paid_on)
            if quote["members_payable"]:
                execute(ledger, PayCohort(agreement_id=a["code"], periods=block, amount_rp=quote["amount_rp"],
                                          payment_reference=f"SP2D-{a['code']}-{i}", effective_on=paid_on))
            if a["death"] is not None and a["death"][1] == i + 1 and a["death"][0] < len(a["niks"]):
                died = date(2025, i + 1, 14)
                clock.set_day(died + timedelta(days=2))
                claim = f"C-{a['code']}"
                execute(ledger, SubmitClaim(claim_id=claim, nik=a["niks"][a["death"][0]],
                                            claim_type=ClaimType.JKM_DEATH, event_date=died,
                                            effective_on=died + timedelta(days=2)))
                result = execute(ledger, ApproveClaim(claim_id=claim, effective_on=died + timedelta(days=3)))
                assert result["status"] in ("APPROVED", "REJECTED")
    pending_group: dict[str, tuple[str, int]] = {}
    for a, invoice, i in invoices:
        mode, ref, amount = a["modes"][i], invoice["invoice"], invoice["amount_rp"]
        day = date.fromisoformat(f"{invoice['periods'][0]}-20")
        sp2d = f"SP2D-{a['code']}-{i}"
        if mode == "exact":
            lines[a["payer"]].append((sp2d, day.isoformat(), str(amount), f"Iuran {ref}"))
        elif mode == "late":
            lines[a["payer"]].append((sp2d, (day + timedelta(days=50)).isoformat(), str(amount), f"Iuran {ref}"))
        elif mode == "partial" and amount > 1:
            lines[a["payer"]].append((sp2d, day.isoformat(), str(amount // 2), f"Iuran {ref} sebagian"))
        elif mode == "duplicate":
            lines[a["payer"]] += [(sp2d, day.isoformat(), str(amount), f"Iuran {ref}")] * 2
        elif mode == "grouped":
            if a["payer"] in pending_group:
                _first_ref, first_amount = pending_group.pop(a["payer"])
                lines[a["payer"]].append((sp2d, day.isoformat(), str(first_amount + amount), "iuran gabungan"))
            else:
                pending_group[a["payer"]] = (ref, amount)
    if scenario["stray"]:
        lines["PAYER-A"].append(("SP2D-STRAY", "2025-03-03", "1234", "salah transfer"))
    clock.set_day(date(2025, 12, 20))
    for payer, payer_lines in sorted(lines.items()):
        if payer_lines and any(a["payer"] == payer for a in scenario["agreements"]):
            import_file(ledger, statement_file(tmp_path / f"{payer}-{id(scenario)}.csv", payer_lines), payer)
    execute(ledger, RunReconciliation(effective_on=date(2025, 12, 20)))
    if scenario["resolve"]:
        views = MoneyViews(ledger.store)
        for x in views.rows(views.journal, "exceptions"):
            candidates = [c for c in (x["candidates"] or "").split(",") if c]
            outstanding = {ref: i["outstanding_rp"] for ref, i in invoice_outstanding(views).items()}
            action, refs = "WRITE_OFF", []
            if x["kind"] == "AMOUNT_MISMATCH" and candidates and outstanding.get(candidates[0], 0) >= x["amount_rp"]:
                action, refs = "MATCH", candidates[:1]
            execute(ledger, ResolveException(statement_id=x["statement_id"], line_no=x["line_no"], action=action,
                                             invoice_refs=refs, note="property test",
                                             effective_on=date(2025, 12, 21)))

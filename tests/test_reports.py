"""Reports: incremental == rebuild (byte-identical JSON), --as-of reproduces the past, --on counts, XLSX
totals equal JSON totals, bad inputs refused."""

from __future__ import annotations

import contextlib
import json
import random
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook

from cli.seed_demo import run_demo
from commands import bulk
from commands.messages import (
    ApproveClaim,
    CohortRow,
    ImportCohort,
    PayClaim,
    PayCohort,
    PayContribution,
    SubmitClaim,
    Sweep,
)
from eventstore.bootstrap import Ledger, bootstrap
from eventstore.clock import WIB, SimulatedClock
from ledger.errors import InvalidInput, LedgerError, NotFound
from ledger.values import ClaimType
from projections.cells import label
from projections.export import write_xlsx
from projections.registers import Registers
from projections.registry import PROJECTIONS, projection
from projections.reports import REPORTS, build_report
from projections.runner import ProjectionRunner, views_engine
from projections.workbook import read_table
from tests.conftest import example_ledger, execute, nik
from tests.test_behaviour import AGREEMENT, sign

NOW = datetime(2026, 11, 21, 12, tzinfo=WIB)


def _reports(ledger: Ledger, on: date) -> str:
    """Every report: the registers' ones, the trial balance and each agreement's reconciliation."""
    from projections.money_views import MoneyViews

    out = {name: build_report(ledger.store, name, on, None, NOW) for name in sorted(REPORTS)}
    out["trial-balance"] = build_report(ledger.store, "trial-balance", on, None, NOW)
    views = MoneyViews(ledger.store)
    for agreement in sorted(r["code"] for r in views.rows(views.registers, "agreements")
                            if r["signed_on"] <= on.isoformat()):
        out[f"reconciliation {agreement}"] = build_report(ledger.store, "reconciliation", on, None, NOW, agreement)
    return json.dumps(out, sort_keys=True, default=str)


def _incremental(ledger: Ledger, seed: int) -> None:
    rng = random.Random(seed)
    for name in PROJECTIONS:
        runner = ProjectionRunner(ledger.store, views_engine(ledger.store), projection(name))
        while runner.step(rng.randint(1, 40)):
            pass


def _rebuild(ledger: Ledger) -> None:
    for name in PROJECTIONS:
        ProjectionRunner(ledger.store, views_engine(ledger.store), projection(name)).rebuild()


def test_demo_reports_incremental_equal_rebuild_and_show_the_seed_shape(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    summary = run_demo("jamsos.db", scale=0.02, quiet=True)
    ledger = bootstrap("jamsos.db", create=False)
    try:
        _incremental(ledger, 5)
        on = date(2026, 1, 31)
        incremental = _reports(ledger, on)
        _rebuild(ledger)
        assert _reports(ledger, on) == incremental
        members = build_report(ledger.store, "members", on, None, NOW)
        active = {row[0]: row[3] for row in members["sections"]["by_agreement"]["rows"]}
        skw = summary["agreements"]
        assert active["SKW-RENTAN-2025"] + active["SKW-SAWIT-2025"] == summary["singkawang_active_2026_01_31"]
        assert active["SKW-RENTAN-2025"] == skw["SKW-RENTAN-2025"]["members_enrolled"]
        may = build_report(ledger.store, "members", date(2026, 5, 31), None, NOW)
        assert {r[0]: r[3] for r in may["sections"]["by_agreement"]["rows"]}["SKW-RENTAN-2025"] == 0
        balances = build_report(ledger.store, "balances", date(2026, 11, 20), None, NOW, "SKW-RENTAN-2025")
        assert balances["totals"]["paid_rp"] == skw["SKW-RENTAN-2025"]["contributions_paid_rp"]
        assert balances["totals"]["outstanding_rp"] == 0
        claims = build_report(ledger.store, "claims", date(2026, 11, 20), None, NOW, "BKY-DESA-2025")
        assert claims["totals"]["paid_rp"] == 42_000_000
        assert {r[0]: r[1] for r in claims["sections"]["by_component"]["rows"]} == {
            "funeral": 10_000_000, "lump_sum": 20_000_000, "periodic": 12_000_000}
    finally:
        ledger.close()


def _scenario(ledger: Ledger, clock: SimulatedClock, plan: list[tuple[int, int, str]]) -> None:
    """A random log: members enrolled in a few waves, some months paid, claims, sweeps."""
    sign(ledger, last="2025-12")
    rows = [(k + 2, CohortRow(nik=nik(k), name=f"W{k}", role="PETANI")) for k in range(len(plan))]
    execute(ledger, ImportCohort(agreement_id=AGREEMENT, rows=rows, effective_on=date(2025, 1, 6)))
    for month in range(1, 7):
        day = date(2025, month, 5) if month > 1 else date(2025, 1, 7)
        clock.set_day(day)
        for k, (paid_until, _, fate) in enumerate(plan):
            if month <= paid_until and fate != "cohort":
                with contextlib.suppress(LedgerError):  # lapsed or dead members are refused: part of the log
                    execute(ledger, PayContribution(nik=nik(k), periods=[f"2025-{month:02d}"], amount_rp=16_800,
                                                    payment_reference=f"R-{k}-{month}", effective_on=day))
        quote = bulk.quote_cohort(ledger, AGREEMENT, [f"2025-{month:02d}"], day)
        cohort_due = [k for k, (_, _, fate) in enumerate(plan) if fate == "cohort"]
        if cohort_due and quote["members_payable"] and quote["members_payable"] <= len(plan):
            with contextlib.suppress(LedgerError):  # a cohort payment refused by the rules is simply absent
                execute(ledger, PayCohort(agreement_id=AGREEMENT, periods=[f"2025-{month:02d}"],
                                          amount_rp=quote["amount_rp"], payment_reference=f"C-{month}",
                                          effective_on=day))
        for k, (_, die_month, fate) in enumerate(plan):
            if fate == "death" and die_month == month:
                cid = f"D-{k}"
                submitted = execute(ledger, SubmitClaim(claim_id=cid, nik=nik(k), claim_type=ClaimType.JKM_DEATH,
                                                        event_date=day, effective_on=day))
                if submitted["status"] == "SUBMITTED":  # held or rejected claims stay as they are
                    execute(ledger, ApproveClaim(claim_id=cid, effective_on=day))
                    if month % 2:
                        execute(ledger, PayClaim(claim_id=cid, payment_reference=f"P-{k}", effective_on=day))
        execute(ledger, Sweep(effective_on=day))


plans = st.lists(
    st.tuples(st.integers(0, 6), st.integers(1, 6), st.sampled_from(["single", "cohort", "death"])),
    min_size=2, max_size=10,
)


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=plans, seed=st.integers(0, 1000))
def test_random_logs_incremental_equal_rebuild(kind: str, plan: Any, seed: int, tmp_path_factory: Any,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    with example_ledger(kind, tmp_path_factory.mktemp("log"), monkeypatch) as (ledger, clock):
        _scenario(ledger, clock, plan)
        _incremental(ledger, seed)
        on = date(2025, 6, 30)
        incremental = _reports(ledger, on)
        _rebuild(ledger)
        assert _reports(ledger, on) == incremental


def test_as_of_reproduces_an_earlier_report_after_later_events(ledger: Ledger, clock: SimulatedClock) -> None:
    sign(ledger, last="2025-12")
    rows = [(k + 2, CohortRow(nik=nik(k), name=f"W{k}", role="PETANI")) for k in range(6)]
    execute(ledger, ImportCohort(agreement_id=AGREEMENT, rows=rows, effective_on=date(2025, 1, 6)))
    clock.set_day(date(2025, 2, 5))
    execute(ledger, PayCohort(agreement_id=AGREEMENT, periods=["2025-01"], amount_rp=6 * 16_800,
                              payment_reference="C-1", effective_on=date(2025, 2, 5)))
    cut = datetime(2025, 2, 5, 23, tzinfo=WIB)
    before = build_report(ledger.store, "balances", date(2025, 1, 31), None, NOW)
    clock.set_day(date(2025, 2, 10))  # later knowledge: a late death claim for January with its refund
    execute(ledger, SubmitClaim(claim_id="D-1", nik=nik(0), claim_type=ClaimType.JKM_DEATH,
                                event_date=date(2025, 1, 20), effective_on=date(2025, 2, 10)))
    execute(ledger, ApproveClaim(claim_id="D-1", effective_on=date(2025, 2, 10)))
    now_view = build_report(ledger.store, "members", date(2025, 1, 31), None, NOW)
    as_of = build_report(ledger.store, "balances", date(2025, 1, 31), cut, NOW)
    assert {k: v for k, v in as_of.items() if k not in ("as_of", "position")} == {
        k: v for k, v in before.items() if k not in ("as_of", "position")}
    assert as_of["position"] < ledger.store.max_notification_id()
    assert now_view["totals"]["died"] == 1
    assert build_report(ledger.store, "members", date(2025, 1, 31), cut, NOW)["totals"]["died"] == 0


def test_xlsx_totals_equal_json_totals(ledger: Ledger, tmp_path: Path) -> None:
    sign(ledger)
    rows = [(k + 2, CohortRow(nik=nik(k), name=f"W{k}", role="NELAYAN")) for k in range(4)]
    execute(ledger, ImportCohort(agreement_id=AGREEMENT, rows=rows, effective_on=date(2025, 1, 6)))
    execute(ledger, PayCohort(agreement_id=AGREEMENT, periods=["2025-01"], amount_rp=4 * 16_800,
                              payment_reference="C-1", effective_on=date(2025, 1, 7)))
    report = build_report(ledger.store, "balances", date(2025, 3, 31), None, NOW)
    target = tmp_path / "balances.xlsx"
    write_xlsx(report, target)
    wb = load_workbook(target)
    totals = dict(read_table(wb["totals"])[1])
    for key, value in report["totals"].items():
        assert totals[label(key)] == value
    header, rows = read_table(wb["by_agreement_period"])
    paid_col = header.index(label("paid_rp"))
    assert sum(r[paid_col] for r in rows) == report["totals"]["paid_rp"] == 4 * 16_800
    assert isinstance(rows[0][paid_col], int)


def test_bad_report_inputs_are_refused(ledger: Ledger) -> None:
    sign(ledger)
    with pytest.raises(InvalidInput) as info:
        build_report(ledger.store, "nope", date(2025, 1, 31), None, NOW)
    assert info.value.field == "report"
    with pytest.raises(InvalidInput) as info:
        build_report(ledger.store, "members", date(2027, 1, 1), None, NOW)
    assert info.value.field == "on"
    with pytest.raises(InvalidInput) as info:
        build_report(ledger.store, "members", date(2025, 1, 1), datetime(2027, 1, 1, tzinfo=WIB), NOW)
    assert info.value.field == "as_of"
    with pytest.raises(NotFound) as missing:
        build_report(ledger.store, "balances", date(2025, 1, 31), None, NOW, "NOPE-2025")
    assert missing.value.field == "agreement_id"
    with pytest.raises(InvalidInput) as unknown:
        projection("nope")
    assert unknown.value.field == "name"


def test_registers_keep_one_row_per_member_period(ledger: Ledger) -> None:
    sign(ledger)
    rows = [(k + 2, CohortRow(nik=nik(k), name=f"W{k}", role="NELAYAN")) for k in range(3)]
    execute(ledger, ImportCohort(agreement_id=AGREEMENT, rows=rows, effective_on=date(2025, 1, 6)))
    execute(ledger, PayContribution(nik=nik(0), periods=["2025-01..2025-03"], amount_rp=3 * 16_800,
                                    payment_reference="R", effective_on=date(2025, 1, 7)))
    runner = ProjectionRunner(ledger.store, views_engine(ledger.store), Registers)
    runner.catch_up()
    from sqlalchemy import func, select

    registers = runner.active
    assert isinstance(registers, Registers)
    with runner.engine.connect() as conn:  # one member-period per month paid, from one run of one payment
        assert conn.execute(select(func.count()).select_from(registers.paid_rows())).scalar_one() == 3
        assert conn.execute(select(func.count()).select_from(registers.table("paid_runs"))).scalar_one() == 1
        assert conn.execute(select(func.count()).select_from(registers.table("paid_run_members"))).scalar_one() == 1


def test_balances_per_member_for_one_agreement(ledger: Ledger, clock: SimulatedClock) -> None:
    sign(ledger)
    rows = [(k + 2, CohortRow(nik=nik(k), name=f"W{k}", role="NELAYAN")) for k in range(3)]
    execute(ledger, ImportCohort(agreement_id=AGREEMENT, rows=rows, effective_on=date(2025, 1, 6)))
    execute(ledger, PayContribution(nik=nik(0), periods=["2025-01..2025-03"], amount_rp=3 * 16_800,
                                    payment_reference="R0", effective_on=date(2025, 1, 7)))
    execute(ledger, PayContribution(nik=nik(1), periods=["2025-01"], amount_rp=16_800,
                                    payment_reference="R1", effective_on=date(2025, 1, 7)))
    report = build_report(ledger.store, "balances", date(2025, 3, 31), None, NOW, AGREEMENT)
    by_member = sorted((row[2], row[3], row[1]) for row in report["sections"]["by_member"]["rows"])
    assert by_member == [(0, 3, None), (1, 2, "2025-01"), (3, 0, "2025-03")]
    assert "by_member" not in build_report(ledger.store, "balances", date(2025, 3, 31), None, NOW)["sections"]


@pytest.mark.postgres
def test_demo_on_postgres_reports_incremental_equal_rebuild(pg_schema_url: str, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JAMSOS_KEY_FILE", str(tmp_path / "k.key"))
    summary = run_demo(pg_schema_url, scale=0.01, quiet=True)
    assert summary["kendari_death_benefits_rp"] == [113_000_000, 207_000_000]
    with pytest.raises(InvalidInput):
        run_demo(pg_schema_url, scale=0.01, quiet=True)
    ledger = bootstrap(pg_schema_url, create=False)
    try:
        _incremental(ledger, 9)
        incremental = _reports(ledger, date(2026, 1, 31))
        _rebuild(ledger)
        assert _reports(ledger, date(2026, 1, 31)) == incremental
    finally:
        ledger.close()


def test_claim_updates_keep_their_order_within_one_batch(ledger: Ledger) -> None:
    """Claim P paid, then claim Q approved and paid, all in one projection batch: Q must end PAID."""
    sign(ledger)
    rows = [(k + 2, CohortRow(nik=nik(k), name=f"W{k}", role="NELAYAN")) for k in range(2)]
    execute(ledger, ImportCohort(agreement_id=AGREEMENT, rows=rows, effective_on=date(2025, 1, 6)))
    execute(ledger, PayCohort(agreement_id=AGREEMENT, periods=["2025-01"], amount_rp=2 * 16_800,
                              payment_reference="C-1", effective_on=date(2025, 1, 7)))
    for k, cid in enumerate(("P", "Q")):
        execute(ledger, SubmitClaim(claim_id=cid, nik=nik(k), claim_type=ClaimType.JKK_MEDICAL,
                                    event_date=date(2025, 1, 10), medical_cost_rp=1_000_000,
                                    effective_on=date(2025, 1, 11)))
    execute(ledger, ApproveClaim(claim_id="P", effective_on=date(2025, 1, 12)))
    runner = ProjectionRunner(ledger.store, views_engine(ledger.store), Registers)
    runner.catch_up()
    execute(ledger, PayClaim(claim_id="P", payment_reference="PP", effective_on=date(2025, 1, 13)))
    execute(ledger, ApproveClaim(claim_id="Q", effective_on=date(2025, 1, 13)))
    execute(ledger, PayClaim(claim_id="Q", payment_reference="PQ", effective_on=date(2025, 1, 14)))
    runner.catch_up(batch_size=1_000)  # the three claim changes (and their command records) in one batch
    claims = build_report(ledger.store, "claims", date(2025, 1, 31), None, NOW)
    assert claims["sections"]["by_type_status"]["rows"] == [["JKK_MEDICAL", "PAID", 2, 2_000_000]]


def test_registers_hold_amounts_beyond_32_bits(ledger: Ledger) -> None:
    sign(ledger, budget_rp=10**13)
    report = build_report(ledger.store, "balances", date(2025, 1, 31), None, NOW)
    assert report["totals"]["paid_rp"] == 0
    registers = ProjectionRunner(ledger.store, views_engine(ledger.store), Registers).active
    from sqlalchemy import select

    with views_engine(ledger.store).connect() as conn:
        assert conn.execute(select(registers.table("agreements").c.budget_rp)).scalar_one() == 10**13

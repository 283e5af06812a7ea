"""The plain chains' counts (``projections.chain_counts``) are what a count from scratch over the registers gives,
after every batch: on random logs (back-dated entries, payer changes, re-enrolments, lapses, deaths), applied
in batches of every size, rebuilt, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from commands.messages import ApproveClaim, ChangePayer, CohortRow, ImportCohort, PayCohort, SubmitClaim, Sweep
from eventstore.bootstrap import Ledger
from ledger.values import ClaimType, Period, period_range
from projections.chain_counts import KEY
from projections.expected_members import expected_by_period, member_chains
from projections.facts import registers_for
from projections.money_views import MoneyViews
from projections.registers import Registers
from projections.reports import build_report
from projections.runner import ProjectionRunner, views_engine
from tests.conftest import execute, nik
from tests.report_reference import reference_report
from tests.test_behaviour import AGREEMENT, enrol, sign
from tests.test_on_property import CODES, EXAMPLES, NOW, day, days, operations, play, random_log_ledger

COHORT = 12


def from_scratch(conn: Any, registers: Registers) -> tuple[Counter[tuple[str, ...]], set[str]]:
    """The counts and the entangled members, counted member by member in Python from every register row."""
    rows = {n: [r._asdict() for r in conn.execute(select(registers.table(n)))]
            for n in ("spells", "members", "segments")}
    segments: dict[str, list[dict[str, Any]]] = {}
    for s in rows["segments"]:
        segments.setdefault(s["member_id"], []).append(s)
    died = {m["member_id"]: m["died_on"] for m in rows["members"]}
    counts: Counter[tuple[str, ...]] = Counter()
    entangled = set()
    for spell in rows["spells"]:
        mine = segments[spell["member_id"]]
        if len(mine) > 1:
            entangled.add(spell["member_id"])
            continue
        values = {**spell, **{k: mine[0][k] for k in ("agreement_code", "payer_id", "payer_type", "fund_source")},
                  "died_on": died[spell["member_id"]]}
        counts[tuple(("" if k != "declared_income_rp" else -1) if values[k] is None else values[k]
                     for k in KEY)] += 1
    return counts, entangled


def kept(conn: Any, registers: Registers) -> tuple[Counter[tuple[str, ...]], set[str]]:
    counts: Counter[tuple[str, ...]] = Counter()
    for row in conn.execute(select(registers.table("chain_counts"))):
        assert row.chains >= 0, row
        if row.chains:
            counts[tuple(row[:-1])] = row.chains
    entangled = [m for (m, _) in conn.execute(select(registers.table("entangled_members")))]
    assert len(entangled) == len(set(entangled))
    return counts, set(entangled)


def check(runner: ProjectionRunner) -> None:
    registers = runner.active
    assert isinstance(registers, Registers)
    with runner.engine.connect() as conn:
        counts, entangled = kept(conn, registers)
        expected_counts, expected_entangled = from_scratch(conn, registers)
    assert counts == expected_counts
    assert entangled == expected_entangled


@pytest.mark.parametrize("kind", ["memory", pytest.param("postgres", marks=pytest.mark.postgres)])
@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(ops=st.lists(operations, min_size=8, max_size=40),
       lags=st.lists(st.integers(0, 45), min_size=40, max_size=40), batch=st.integers(1, 12))
def test_the_counts_are_a_count_from_scratch_after_every_batch(kind: str, ops: list[tuple[Any, ...]],
                                                               lags: list[int], batch: int, tmp_path_factory: Any,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    with random_log_ledger(kind, tmp_path_factory.mktemp("counts"), monkeypatch, "c") as ledger:
        play(ledger, ops, lags)
        runner = ProjectionRunner(ledger.store, views_engine(ledger.store), Registers)
        while runner.step(batch_size=batch):
            check(runner)
        check(runner)
        runner.rebuild()
        check(runner)


@pytest.mark.parametrize("kind", ["memory", pytest.param("postgres", marks=pytest.mark.postgres)])
@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(ops=st.lists(operations, min_size=8, max_size=40),
       lags=st.lists(st.integers(0, 45), min_size=40, max_size=40), asked=st.lists(days, min_size=1, max_size=3))
def test_the_expected_members_by_shape_are_the_member_by_member_figures(
        kind: str, ops: list[tuple[Any, ...]], lags: list[int], asked: list[int], tmp_path_factory: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """What billing and the reconciliation report expect of an agreement, per period, with the plain members
    counted per chain shape, is what every member one by one gives: on the head and on random days."""
    with random_log_ledger(kind, tmp_path_factory.mktemp("expected"), monkeypatch, "e") as ledger:
        play(ledger, ops, lags)
        views = MoneyViews(ledger.store)
        for code in CODES:
            agreement = views.agreement(code)
            periods = period_range(Period.parse(agreement["first_period"]), Period.parse(agreement["last_period"]))
            for on in [None, *(day(offset) for offset in asked)]:
                assert expected_by_period(views, code, periods, on) == expected_by_period(
                    views, code, periods, on, one_by_one=True), (code, on)


def test_a_cohort_lapsed_and_bereaved_is_expected_as_member_by_member(ledger: Ledger) -> None:
    """A cohort of alike members (one chain shape, many members), one of whom dies, one taken over by another
    payer, then lapsed by a sweep: on every day around those facts, what the agreement is expected to pay is the
    member-by-member figure, and most members are counted through one shape."""
    sign(ledger)
    sign(ledger, "SKW-OTHER-2025")
    rows = [(k + 2, CohortRow(nik=nik(300 + k), name=f"W{k}", role="NELAYAN")) for k in range(COHORT)]
    execute(ledger, ImportCohort(agreement_id=AGREEMENT, rows=rows, effective_on=date(2025, 1, 6)))
    execute(ledger, PayCohort(agreement_id=AGREEMENT, periods=["2025-01..2025-02"], amount_rp=2 * 16_800 * COHORT,
                              payment_reference="SP2D-1", effective_on=date(2025, 1, 8)))
    enrol(ledger, 1, on=date(2025, 2, 3))
    execute(ledger, SubmitClaim(claim_id="DEATH-1", nik=nik(300), claim_type=ClaimType.JKM_DEATH,
                                event_date=date(2025, 2, 10), effective_on=date(2025, 2, 12)))
    execute(ledger, ApproveClaim(claim_id="DEATH-1", effective_on=date(2025, 2, 14)))
    execute(ledger, ChangePayer(nik=nik(301), agreement_id="SKW-OTHER-2025", from_period="2025-03",
                                effective_on=date(2025, 2, 20)))
    execute(ledger, Sweep(effective_on=date(2025, 6, 20)))
    views = MoneyViews(ledger.store)
    periods = period_range(Period.parse("2025-01"), Period.parse("2025-06"))
    shaped = member_chains(views, AGREEMENT)
    assert max(shaped.weights) >= COHORT - 3, shaped.weights  # the cohort's untouched members: one entry
    lapsed = [s for spells, _ in shaped.members for s in spells if s.lapsed_on is not None]
    assert lapsed, "the sweep lapsed nobody: the test would not see the lapse"
    assert any(died for _, died in shaped.members), "nobody died: the test would not see a death"
    for on in (None, date(2025, 1, 31), date(2025, 2, 10), date(2025, 2, 11), date(2025, 2, 14), date(2025, 2, 28),
               date(2025, 5, 31), date(2025, 6, 1), date(2025, 6, 10), date(2025, 6, 30)):
        by_shape = expected_by_period(views, AGREEMENT, periods, on)
        assert by_shape == expected_by_period(views, AGREEMENT, periods, on, one_by_one=True), on
        assert by_shape["2025-01"].members >= COHORT
        if on is None:
            continue
        registers, engine, _ = registers_for(ledger.store, None)
        for name in ("members", "balances"):  # the registers' reports of the same plain chains, by their counts
            for scope in (None, AGREEMENT):
                report = build_report(ledger.store, name, on, None, NOW, scope)
                assert json.dumps([report["sections"], report["totals"]]) == json.dumps(
                    list(reference_report(engine, registers, name, on, scope))), (name, on, scope)

"""The registers keep every member-period paid as runs (``projections.paid_runs``); joined back, they are exactly
the member-periods of the log's ``ContributionPaid`` events — each once, with its payer, amounts, day, reference,
lateness and refund — whatever the batches, on the random logs of the ``--on`` property test, on SQLite and
PostgreSQL. The oracle here reads the events themselves, not the registers."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from commands import bulk
from commands.messages import ApproveClaim, CohortRow, ImportCohort, PayCohort
from eventstore.bootstrap import Ledger
from eventstore.store import LedgerStore
from ledger.values import ClaimType
from projections.facts import register_rows
from projections.registers import Registers
from projections.runner import ProjectionRunner, read_envelopes, views_engine
from tests.conftest import at, execute, nik
from tests.test_behaviour import AGREEMENT, enrol, pay, sign, submit
from tests.test_on_property import EXAMPLES, operations, play, random_log_ledger

MEMBERS = 6
MONTHS = ("2025-01", "2025-02", "2025-03", "2025-04", "2025-05")


def paid_from_the_log(store: LedgerStore) -> list[tuple[Any, ...]]:
    """Every member-period of the log's payments, as the registers' paid rows (refunds from their events)."""
    rows: dict[tuple[str, str], list[Any]] = {}
    after = 0
    while batch := read_envelopes(store, after, 10_000):
        for e in batch:
            d = e.data
            if e.event_type == "ContributionPaid":
                per = d["per_period_rp"]
                for period in d["periods"]:
                    assert (e.originator_id, period) not in rows, "a member-period paid twice"
                    rows[(e.originator_id, period)] = [
                        e.originator_id, period, d["agreement_code"], d["payer_id"], d["payer_type"],
                        d["fund_source"], sum(per.values()), per.get("JKK", 0), per.get("JKM", 0), per.get("JHT", 0),
                        d["effective_on"], d["payment_reference"], int(period < d["effective_on"][:7]), 0, None]
            elif e.event_type == "ContributionRefundDue":
                for period in d["periods"]:
                    if (e.originator_id, period) in rows:
                        rows[(e.originator_id, period)][13:] = [1, d["effective_on"]]
        after = batch[-1].position
    return sorted(tuple(r) for r in rows.values())


def paid_from_the_registers(store: LedgerStore, batch_size: int | None = None
                            ) -> tuple[list[tuple[Any, ...]], tuple[int, int]]:
    """The registers' paid rows (rebuilt in batches of ``batch_size`` events if given), and how many runs and
    member rows under them the registers hold."""
    engine = views_engine(store)
    runner = ProjectionRunner(store, engine, Registers)
    if batch_size is None:
        runner.catch_up()
    else:
        runner.rebuild(batch_size)
    registers = runner.active
    assert isinstance(registers, Registers)
    rows = sorted(tuple(r.values()) for r in register_rows(engine, registers, "paid"))
    with engine.connect() as conn:
        runs = conn.execute(select(func.count()).select_from(registers.table("paid_runs"))).scalar_one()
        members = conn.execute(select(func.count()).select_from(registers.table("paid_run_members"))).scalar_one()
    return rows, (int(runs), int(members))


def _pay_cohort(ledger: Ledger, month: str, on: date) -> None:
    at(ledger.clock, on)  # type: ignore[arg-type]
    quote = bulk.quote_cohort(ledger, AGREEMENT, [month], on)
    execute(ledger, PayCohort(agreement_id=AGREEMENT, periods=[month], amount_rp=quote["amount_rp"],
                              payment_reference=f"SP2D-{month}", effective_on=on))


def _cohort_months(ledger: Ledger) -> None:
    """A cohort paid month by month; between two of its payments one more member's arrears paid on their own
    (the same agreement and payer: the cohort's runs must not reach over it), that member paid with the cohort
    afterwards."""
    sign(ledger, last="2025-12")
    rows = [(k + 2, CohortRow(nik=nik(200 + k), name=f"W{k}", role="NELAYAN")) for k in range(MEMBERS)]
    execute(ledger, ImportCohort(agreement_id=AGREEMENT, rows=rows, effective_on=date(2025, 1, 6)))
    for i, month in enumerate(MONTHS[:3]):
        _pay_cohort(ledger, month, date(2025, 1 + i, 7))
    enrol(ledger, 1)
    pay(ledger, 1, ["2025-01..2025-03"], 3 * 16_800, "ARREARS-1", on=date(2025, 3, 20))
    for i, month in enumerate(MONTHS[3:]):
        _pay_cohort(ledger, month, date(2025, 4 + i, 7))


@pytest.mark.parametrize("batch_size", [None, 4, 10_000])
def test_runs_joined_back_are_the_logs_payments(ledger: Ledger, batch_size: int | None) -> None:
    _cohort_months(ledger)
    wanted = paid_from_the_log(ledger.store)
    assert len(wanted) == MEMBERS * len(MONTHS) + len(MONTHS)
    rows, runs = paid_from_the_registers(ledger.store, batch_size)
    assert rows == wanted
    if batch_size is None:
        # the cohort before the arrears, the cohort after them, the late member: three runs, each member in them
        assert runs == (3, 2 * MEMBERS + 1)


@pytest.mark.parametrize("batch_size", [None, 3, 7])
def test_a_member_left_out_of_a_payment_keeps_his_run_where_it_ended(ledger: Ledger, batch_size: int | None) -> None:
    """A cohort member who dies is not paid again: the cohort's runs move on past him, his stays (in whichever
    batches the payments fall)."""
    sign(ledger, last="2025-12")
    rows = [(k + 2, CohortRow(nik=nik(200 + k), name=f"W{k}", role="NELAYAN")) for k in range(MEMBERS)]
    execute(ledger, ImportCohort(agreement_id=AGREEMENT, rows=rows, effective_on=date(2025, 1, 6)))
    for i, month in enumerate(MONTHS[:2]):
        _pay_cohort(ledger, month, date(2025, 1 + i, 7))
    submit(ledger, "C-200", 200, ClaimType.JKM_DEATH, date(2025, 2, 14), date(2025, 2, 20))
    execute(ledger, ApproveClaim(claim_id="C-200", effective_on=date(2025, 2, 28)))
    for i, month in enumerate(MONTHS[2:]):
        _pay_cohort(ledger, month, date(2025, 3 + i, 7))
    wanted = paid_from_the_log(ledger.store)
    assert len(wanted) == MEMBERS * len(MONTHS) - (len(MONTHS) - 2)
    rows_paid, runs = paid_from_the_registers(ledger.store, batch_size)
    assert rows_paid == wanted
    if batch_size is None:
        assert runs == (2, MEMBERS)  # the cohort's run, and the dead member's that ended before it went on
    else:
        assert runs[1] == MEMBERS  # each member in one run, however the batches split them


def test_a_refund_marks_only_the_months_after_the_death(ledger: Ledger) -> None:
    sign(ledger, last="2025-12")
    enrol(ledger, 1)
    pay(ledger, 1, ["2025-01..2025-06"], 6 * 16_800, "SP2D-H1")
    submit(ledger, "C-1", 1, ClaimType.JKM_DEATH, date(2025, 2, 14), date(2025, 2, 20))
    execute(ledger, ApproveClaim(claim_id="C-1", effective_on=date(2025, 2, 28)))
    rows, _ = paid_from_the_registers(ledger.store)
    assert [(r[1], r[13]) for r in rows] == [("2025-01", 0), ("2025-02", 0), ("2025-03", 1), ("2025-04", 1),
                                              ("2025-05", 1), ("2025-06", 1)]
    assert rows == paid_from_the_log(ledger.store)


@pytest.mark.parametrize("kind", ["memory", pytest.param("postgres", marks=pytest.mark.postgres)])
@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(ops=st.lists(operations, min_size=8, max_size=28), lags=st.lists(st.integers(0, 45), min_size=28,
                                                                        max_size=28),
       batch_size=st.integers(1, 40))
def test_runs_equal_the_payments_of_random_logs(kind: str, ops: list[tuple[Any, ...]], lags: list[int],
                                                batch_size: int, tmp_path_factory: Any,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    with random_log_ledger(kind, tmp_path_factory.mktemp("runs"), monkeypatch, "p") as ledger:
        play(ledger, ops, lags)
        wanted = paid_from_the_log(ledger.store)
        assert paid_from_the_registers(ledger.store)[0] == wanted  # caught up as the log grew: one batch
        assert paid_from_the_registers(ledger.store, batch_size)[0] == wanted  # rebuilt in small batches

"""The journal keeps a cohort payment's equal entries as one row (``projections.journal``: a row stands for the
entries of its positions ``position, position + step, .. last_position``), yet every figure is the one an entry
per member gives: the trial balance, ``check`` (its count of entries, its breaches by position) and the
``journal`` SQL view."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy import func, select, update

from commands.messages import CohortRow, ImportCohort, PayCohort
from eventstore.bootstrap import Ledger
from projections.journal import Journal, _fold, entry_positions
from projections.money_views import MoneyViews, checks, trial_balance
from projections.runner import ProjectionRunner, views_engine
from tests.conftest import execute, nik
from tests.test_behaviour import AGREEMENT, enrol, pay, sign

MEMBERS = 23
ON = date(2025, 3, 31)


def _cohort(ledger: Ledger) -> None:
    sign(ledger)
    rows = [(k + 2, CohortRow(nik=nik(100 + k), name=f"W{k}", role="NELAYAN")) for k in range(MEMBERS)]
    execute(ledger, ImportCohort(agreement_id=AGREEMENT, rows=rows, effective_on=date(2025, 1, 6)))
    execute(ledger, PayCohort(agreement_id=AGREEMENT, periods=["2025-01..2025-02"], amount_rp=2 * 16_800 * MEMBERS,
                              payment_reference="SP2D-1", effective_on=date(2025, 2, 7)))
    enrol(ledger, 1)
    pay(ledger, 1, ["2025-01"], 16_800, "REF-ONE")


def _entries(engine: Any, runner: ProjectionRunner) -> list[range]:
    """The positions each row of ``journal_entries`` stands for."""
    t = runner.active.table("journal_entries")
    with engine.connect() as conn:
        return [entry_positions(*r) for r in conn.execute(
            select(t.c.position, t.c.last_position, t.c.step).order_by(t.c.position, t.c.seq))]


@pytest.mark.parametrize("batch_size", [5, 10_000])
def test_a_cohort_payment_is_one_row_whatever_the_batches(memory_ledger: Ledger, batch_size: int) -> None:
    ledger = memory_ledger
    _cohort(ledger)
    engine = views_engine(ledger.store)
    runner = ProjectionRunner(ledger.store, engine, Journal)
    runner.rebuild(batch_size)
    rows = _entries(engine, runner)
    folded = [positions for positions in rows if len(positions) > 1]
    assert len(folded) == 1, rows  # the cohort's 23 entries: one row, across batches of 5 events too
    assert len(folded[0]) == MEMBERS
    assert checks(MoneyViews(ledger.store), ON, None)["entries"] == sum(map(len, rows)) == MEMBERS + 1
    events = {p: kind for p, _, _, kind, _ in ledger.store.read_log(0, 10_000)}
    assert {events[p].rsplit(":", 1)[1] for p in folded[0]} == {"ContributionPaid"}


def test_folded_entries_give_every_figure_an_entry_per_member_gives(ledger: Ledger) -> None:
    _cohort(ledger)
    views = MoneyViews(ledger.store)
    result = checks(views, ON, None)
    assert result["ok"], result["breaches"]
    assert result["entries"] == MEMBERS + 1  # the cohort's, then the one member's
    accounts = {r[0]: r for r in trial_balance(views, ON)[0]["accounts"]["rows"]}
    assert sum(r[3] for r in accounts.values()) == sum(r[4] for r in accounts.values()) > 0
    # the cohort's contributions, one entry per member, credited to the funds: JKK and JKM of 2 months each
    funds = {r[0]: r[1] for r in trial_balance(views, ON)[0]["funds"]["rows"]}
    assert funds["JKK"] + funds["JKM"] == 2 * 16_800 * MEMBERS + 16_800

    engine = views.engine
    with engine.connect() as conn:  # the stable views, made when the projections caught up
        per_position = conn.exec_driver_sql(
            "SELECT position, sum(debit_rp), sum(credit_rp), count(*) FROM journal GROUP BY position "
            "ORDER BY position").all()
    assert len(per_position) == MEMBERS + 1  # the SQL view: a row per leg of every entry, each position apart
    assert all(debit == credit > 0 for _, debit, credit, _ in per_position)
    assert sum(debit for _, debit, _, _ in per_position) == sum(r[3] for r in accounts.values())


def test_a_broken_shape_names_every_position_of_a_folded_row(memory_ledger: Ledger) -> None:
    ledger = memory_ledger
    _cohort(ledger)
    views = MoneyViews(ledger.store)
    assert checks(views, ON, None)["ok"]
    entries_t, legs_t = views.journal.table("journal_entries"), views.journal.table("journal_shapes")
    with views.engine.begin() as conn:
        first, last, step, shape = conn.execute(
            select(entries_t.c.position, entries_t.c.last_position, entries_t.c.step, entries_t.c.shape)
            .where(entries_t.c.last_position > entries_t.c.position)).one()
        conn.execute(update(legs_t).where(legs_t.c.shape == shape, legs_t.c.leg == 1)
                     .values(debit_rp=legs_t.c.debit_rp + 1))
        assert conn.execute(select(func.count()).select_from(entries_t)).scalar_one() < MEMBERS
    breaches = checks(views, ON, None)["breaches"]
    named = [b.split(": ")[0] for b in breaches if b.startswith("entry at position")]
    assert named == [f"entry at position {p}" for p in entry_positions(first, last, step)]  # each member's, by position


def test_a_run_continues_only_at_its_own_spacing() -> None:
    """A batch's first run joins the table's last row only if every position between is an entry: the same step
    on both sides (a cohort whose members start reinstating at a batch's edge posts at another spacing)."""
    def row(first: int, last: int, step: int) -> list[Any]:
        return [first, 0, "S", "2025-02-07", "2025-02-07", "T", last, step]

    assert _fold(run := row(10, 12, 1), row(13, 15, 1)) and run == row(10, 15, 1)
    assert _fold(run := row(10, 10, 1), row(12, 16, 2)) and run == row(10, 16, 2)
    assert not _fold(row(10, 12, 1), row(13, 17, 2))  # 14 and 16 are no entries of this run
    assert not _fold(row(10, 14, 2), row(15, 15, 1))
    assert not _fold(row(10, 12, 1), [13, 1, "S", "2025-02-07", "2025-02-07", "T", 13, 1])  # a second entry


@pytest.mark.parametrize("batch_size", [5, 10_000])
def test_the_day_totals_count_every_entry_and_check_catches_a_changed_total(memory_ledger: Ledger,
                                                                            batch_size: int) -> None:
    """The trial balance reads ``journal_day_totals``: entries per shape and day, kept by the projection in every
    batch (a cohort run split over batches included); ``check`` counts the entries themselves and names a total
    that differs."""
    ledger = memory_ledger
    _cohort(ledger)
    engine = views_engine(ledger.store)
    runner = ProjectionRunner(ledger.store, engine, Journal)
    runner.rebuild(batch_size)
    totals_t, entries_t = runner.active.table("journal_day_totals"), runner.active.table("journal_entries")
    with engine.connect() as conn:
        kept = {(s, d): n for s, d, n in conn.execute(select(totals_t))}
        counted = {(s, d): sum(len(entry_positions(p, last, step)) for p, last, step, s2, d2 in conn.execute(
            select(entries_t.c.position, entries_t.c.last_position, entries_t.c.step, entries_t.c.shape,
                   entries_t.c.effective_on)) if (s2, d2) == (s, d)) for s, d in kept}
    assert kept == counted and sum(kept.values()) == MEMBERS + 1
    views = MoneyViews(ledger.store)
    assert checks(views, ON, None)["ok"]
    cohort_shape, cohort_day = max(kept, key=lambda k: kept[k])
    totals = views.journal.table("journal_day_totals")
    with views.engine.begin() as conn:
        conn.execute(update(totals).where(totals.c.shape == cohort_shape).values(entries=totals.c.entries - 1))
    breaches = checks(views, ON, None)["breaches"]
    assert f"journal day totals: {MEMBERS - 1} entries of shape {cohort_shape} on {cohort_day} kept, " \
           f"{MEMBERS} in the journal" in breaches

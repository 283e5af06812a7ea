"""A cohort payment racing single payments, and stopping half-way, in real processes on SQLite and PostgreSQL.

The cohort process commits its first batch, then waits (a wrapper around the store's write, in that process)
while other processes pay members of its later batches one by one; then it goes on. It must complete: the members
paid elsewhere are reported as ``already_paid_elsewhere``, the reference's reserved amount minus what was credited
is a REFERENCE_SHORTFALL exception, and ``check`` passes. A cohort process that dies between batches leaves its
command ``in progress`` (bulk status, project status, check's open items); a rerun with another amount is refused,
a rerun with the same command id completes it. A reference whose amount disagrees with what was credited under
it, written through the store, makes ``check`` fail.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

from commands.bulk import bulk_runs
from commands.messages import CohortRow, ImportCohort, PayCohort, PayContribution
from eventstore.bootstrap import Ledger, bootstrap
from eventstore.clock import WIB, SimulatedClock
from ledger.aggregate import CommandContext
from ledger.errors import IdempotencyConflict
from ledger.events import ContributionPaid, PaymentReferenceShortfall
from ledger.identity import member_id_for
from ledger.reservations import PaymentReference, payment_reference_id
from projections.money_views import MoneyViews, checks
from tests.conftest import execute, nik
from tests.test_behaviour import sign

MEMBERS = 300
BATCH = 50
RACERS = 12
RATE_RP = 16_800
PERIOD = "2025-02"
PAID_ON = date(2025, 2, 5)
CODE = "RACE-2025"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def race_url(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("JAMSOS_KEY_FILE", str(tmp_path / "race.key"))
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'race.db'}"
    else:
        yield str(request.getfixturevalue("pg_schema_url"))


def _clock() -> SimulatedClock:
    return SimulatedClock(datetime(2025, 2, 5, 9, tzinfo=WIB))


def _open(url: str, key_file: str) -> Ledger:
    os.environ["JAMSOS_KEY_FILE"] = key_file
    ledger = bootstrap(url, clock=_clock(), create=False)
    ledger.batch_size = BATCH
    return ledger


def _cohort(url: str) -> list[str]:
    """The agreement and its 300 members; the NIKs of the members the cohort payment writes last."""
    ledger = bootstrap(url, clock=_clock())
    try:
        sign(ledger, CODE)
        rows = [(i + 2, CohortRow(nik=nik(i), name=f"Pekerja {i}", role="PETANI")) for i in range(MEMBERS)]
        execute(ledger, ImportCohort(agreement_id=CODE, rows=rows, effective_on=date(2025, 1, 6),
                                     command_id="import-race"))
        pepper = ledger.keyring.secrets.pepper
        by_id = sorted((member_id_for(pepper, nik(i)), nik(i)) for i in range(MEMBERS))  # the plan's order
        return [n for _, n in by_id[-RACERS:]]
    finally:
        ledger.close()


def _pay_cohort(url: str, key_file: str, command_id: str, amount_rp: int, first_done: Any, go_on: Any,
                die_after: int, results: Any) -> None:
    """Pay the cohort; after the first commit signal ``first_done`` and wait for ``go_on``; with ``die_after``,
    die (no cleanup, like a kill) after that many commits."""
    ledger = _open(url, key_file)
    real_write = ledger.store.write_rows
    commits = {"n": 0}

    def write_rows(*args: Any, **kw: Any) -> None:
        real_write(*args, **kw)
        commits["n"] += 1
        if commits["n"] == die_after:
            os._exit(17)
        if commits["n"] == 1 and first_done is not None:
            first_done.set()
            assert go_on.wait(timeout=60)

    ledger.store.write_rows = write_rows  # type: ignore[method-assign]
    try:
        result = execute(ledger, PayCohort(agreement_id=CODE, periods=[PERIOD], amount_rp=amount_rp,
                                           payment_reference="SP2D-RACE-1", command_id=command_id,
                                           effective_on=PAID_ON))
        results.put(("ok", result))
    except Exception as err:  # reported, then asserted on in the parent
        results.put(("error", repr(err)))
    finally:
        ledger.close()


def _pay_singles(url: str, key_file: str, niks: list[str], who: str, first_done: Any, results: Any) -> None:
    ledger = _open(url, key_file)
    assert first_done.wait(timeout=60)
    for i, n in enumerate(niks):
        try:
            execute(ledger, PayContribution(nik=n, periods=[PERIOD], amount_rp=RATE_RP, payment_reference=f"{who}-{i}",
                                            command_id=f"{who}-cmd-{i}", effective_on=PAID_ON))
            results.put(("paid", n))
        except Exception as err:
            results.put(("error", repr(err)))
    ledger.close()


def _reference(ledger: Ledger, ref: str) -> tuple[int, int, list[PaymentReferenceShortfall]]:
    """(reserved, credited under it, its exceptions), read from the events."""
    reference = ledger.store.load(PaymentReference, payment_reference_id(ref))
    credited = 0
    pepper = ledger.keyring.secrets.pepper
    for i in range(MEMBERS):
        for e in ledger.store.events_of(member_id_for(pepper, nik(i))):
            if isinstance(e, ContributionPaid) and e.payment_reference == ref:
                credited += e.amount_rp
    exceptions = [e for e in ledger.store.events_of(reference.id) if isinstance(e, PaymentReferenceShortfall)]
    return reference.state.amount_rp, credited, exceptions


def test_cohort_payment_racing_single_payments_completes(race_url: str, tmp_path: Path) -> None:
    racers = _cohort(race_url)
    key_file = os.environ["JAMSOS_KEY_FILE"]
    ctx = mp.get_context("spawn")
    first_done, go_on, results = ctx.Event(), ctx.Event(), ctx.Queue()
    cohort = ctx.Process(target=_pay_cohort, args=(race_url, key_file, "cohort-race", MEMBERS * RATE_RP,
                                                   first_done, go_on, 0, results))
    singles = [ctx.Process(target=_pay_singles, args=(race_url, key_file, racers[k::2], f"S{k}", first_done, results))
               for k in range(2)]
    for p in (cohort, *singles):
        p.start()
    for p in singles:
        p.join(timeout=120)
        assert p.exitcode == 0
    go_on.set()
    cohort.join(timeout=120)
    assert cohort.exitcode == 0
    outcomes = [results.get(timeout=10) for _ in range(RACERS + 1)]
    assert not [o for o in outcomes if o[0] == "error"], outcomes
    assert sorted(o[1] for o in outcomes if o[0] == "paid") == sorted(racers)
    (result,) = [o[1] for o in outcomes if o[0] == "ok"]
    assert result["already_paid_elsewhere"] == RACERS
    assert result["members_paid"] == MEMBERS - RACERS
    assert result["amount_rp"] == (MEMBERS - RACERS) * RATE_RP
    assert result["reserved_rp"] == MEMBERS * RATE_RP
    assert result["shortfall_rp"] == RACERS * RATE_RP

    ledger = bootstrap(race_url, clock=_clock(), create=False)
    try:
        pepper = ledger.keyring.secrets.pepper
        assert sorted(result["already_paid_elsewhere_members"]) == sorted(
            str(member_id_for(pepper, n)) for n in racers)
        for i in range(MEMBERS):  # every member paid exactly once for the month
            paid = [e for e in ledger.store.events_of(member_id_for(pepper, nik(i))) if isinstance(e, ContributionPaid)]
            assert [e.periods for e in paid] == [[PERIOD]]
        reserved, credited, exceptions = _reference(ledger, "SP2D-RACE-1")
        assert [e.difference_rp for e in exceptions] == [reserved - credited] == [RACERS * RATE_RP]
        assert exceptions[0].kind == "REFERENCE_SHORTFALL"
        found = checks(MoneyViews(ledger.store), PAID_ON, None)
        assert found["ok"], found["breaches"]
        listed = [row for row in found["open_items"]["rows"] if "REFERENCE_SHORTFALL" in str(row[1])]
        assert [row[2] for row in listed] == [RACERS * RATE_RP]
        assert bulk_runs(ledger) == []
    finally:
        ledger.close()


def test_cohort_payment_dying_half_way_is_in_progress_until_resumed(race_url: str) -> None:
    _cohort(race_url)
    key_file = os.environ["JAMSOS_KEY_FILE"]
    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    dying = ctx.Process(target=_pay_cohort, args=(race_url, key_file, "cohort-dies", MEMBERS * RATE_RP, None, None,
                                                  2, results))
    dying.start()
    dying.join(timeout=120)
    assert dying.exitcode == 17  # died after its second batch

    ledger = _open(race_url, key_file)
    try:
        (run,) = bulk_runs(ledger)
        assert (run["command_id"], run["status"], run["members_done"], run["members_total"]) == (
            "cohort-dies", "in progress", 2 * BATCH, MEMBERS)
        found = checks(MoneyViews(ledger.store), PAID_ON, None)
        assert found["ok"], found["breaches"]  # in progress: an open item, not yet a breach
        assert [row[0] for row in found["open_items"]["rows"] if "cohort-dies" in str(row[1])] == ["bulk-in-progress"]
        with pytest.raises(IdempotencyConflict):  # another amount under the half-done command id
            execute(ledger, PayCohort(agreement_id=CODE, periods=[PERIOD], amount_rp=(MEMBERS - 1) * RATE_RP,
                                      payment_reference="SP2D-RACE-1", command_id="cohort-dies", effective_on=PAID_ON))
    finally:
        ledger.close()

    resumed = ctx.Process(target=_pay_cohort, args=(race_url, key_file, "cohort-dies", MEMBERS * RATE_RP, None, None,
                                                    0, results))
    resumed.start()
    resumed.join(timeout=120)
    assert resumed.exitcode == 0
    status, result = results.get(timeout=10)
    assert status == "ok", result
    assert (result["resumed"], result["members_paid"], result["amount_rp"], result["shortfall_rp"]) == (
        2 * BATCH, MEMBERS, MEMBERS * RATE_RP, 0)
    ledger = _open(race_url, key_file)
    try:
        assert bulk_runs(ledger) == []
        reserved, credited, exceptions = _reference(ledger, "SP2D-RACE-1")
        assert reserved == credited == MEMBERS * RATE_RP and exceptions == []
        found = checks(MoneyViews(ledger.store), PAID_ON, None)
        assert found["ok"], found["breaches"]
        assert not [row for row in found["open_items"]["rows"] if row[0] == "bulk-in-progress"]
    finally:
        ledger.close()


def test_check_fails_on_a_reference_that_disagrees_with_what_was_credited(race_url: str) -> None:
    _cohort(race_url)
    ledger = _open(race_url, os.environ["JAMSOS_KEY_FILE"])
    try:
        execute(ledger, PayContribution(nik=nik(0), periods=[PERIOD], amount_rp=RATE_RP, payment_reference="OK-1",
                                        command_id="ok-1", effective_on=PAID_ON))
        assert checks(MoneyViews(ledger.store), PAID_ON, None)["ok"]
        ctx = CommandContext("tamper", "tamper", ledger.clock.now(), ledger.clock.now())
        broken = ledger.store.load(PaymentReference, payment_reference_id("BROKEN-1"))  # reserved, nothing credited
        broken.use(ctx, reference="BROKEN-1", payer_id="PEMKOT-SKW", amount_rp=3 * RATE_RP, purpose="contribution",
                   on=PAID_ON)
        ledger.store.save(broken)
        found = checks(MoneyViews(ledger.store), PAID_ON, None)
        assert not found["ok"]
        assert [b for b in found["breaches"] if "BROKEN-1" in b] == [
            "payment reference BROKEN-1: reserved Rp50.400, credited Rp0, explained by exceptions Rp0: "
            "Rp50.400 unexplained"]
    finally:
        ledger.close()

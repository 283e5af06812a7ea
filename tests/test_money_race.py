"""Decisions taken on read models that lag: a bill, a reconciliation run and a hand resolution each race a write
that lands after their views caught up and before their save (commands/money.py, ``LogGuard``).

The deterministic tests run the competing command inside the handler, right after the decision was read from
the views (a wrapper around the view function the decision calls last), on every store. The first save must
then lose (ConcurrencyConflict on the log), ``execute`` must retry, and the final decision must include the
competing write. The threaded test runs real concurrent enrolments against a bill on PostgreSQL: the members
billed are exactly those enrolled before the bill's position in the log.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

from commands import money
from commands.messages import BillAgreement, ResolveException, RunReconciliation
from eventstore.bootstrap import Ledger, bootstrap
from eventstore.clock import WIB, SimulatedClock
from ledger.errors import ConcurrencyConflict, RuleViolation
from projections.chain_audit import verify
from projections.money_views import MoneyViews, invoice_outstanding, new_lines
from tests.conftest import execute
from tests.test_behaviour import AGREEMENT, enrol, pay, sign
from tests.test_money import bill, import_file, statement_file

PAYER = "PEMKOT-SKW"
PERIOD = "2025-01"
BILLED_ON = date(2025, 1, 8)
SHORT_RP = 5_000
"""What each of two transfers falls short of the invoice by (both name it: two AMOUNT_MISMATCH exceptions)."""


def rate_rp(ledger: Ledger) -> int:
    return int(sign(ledger)["rate_per_member_month_rp"])


def inject_once(monkeypatch: pytest.MonkeyPatch, name: str, competing: Callable[[], Any]) -> list[int]:
    """Wrap ``commands.money.<name>``: its first call, once it has read the views, runs ``competing`` (another
    command, fully committed) before the handler goes on to save. Returns the list of calls (one per call)."""
    real = getattr(money, name)
    calls: list[int] = []

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        value = real(*args, **kwargs)
        if len(calls) == 1:
            competing()
        return value

    monkeypatch.setattr(money, name, wrapper)
    return calls


def wait_for_enrolments_after_the_first_read(monkeypatch: pytest.MonkeyPatch, ledger: Ledger,
                                             reading: threading.Event, timeout_s: float = 30.0) -> None:
    """The bill's first read of the views sets ``reading`` (the enrollers into its agreement start then) and waits
    until the enrollers have written ``ENROLLERS_RACE_EVENTS`` more events, so its first save always races them:
    on a loaded machine the threads may otherwise start only after it, and on a quiet one the enrollers could
    finish their bursts before the bill has caught its views up."""
    real = money.expected_by_period
    first = [True]

    def waiting(*args: Any, **kwargs: Any) -> Any:
        value = real(*args, **kwargs)
        if first[0]:
            first[0] = False
            reading.set()
            head = ledger.store.max_notification_id()
            deadline_s = time.monotonic() + timeout_s
            while ledger.store.max_notification_id() < head + ENROLLERS_RACE_EVENTS and time.monotonic() < deadline_s:
                time.sleep(0.005)
        return value

    monkeypatch.setattr(money, "expected_by_period", waiting)


def record_saves(monkeypatch: pytest.MonkeyPatch, ledger: Ledger) -> list[str]:
    """Every save of ``ledger.store`` from now on: "ok", or the field of the ConcurrencyConflict it raised."""
    real = ledger.store.save
    outcomes: list[str] = []

    def save(*aggregates: Any, **kwargs: Any) -> int:
        try:
            n = real(*aggregates, **kwargs)
        except ConcurrencyConflict as err:
            outcomes.append(err.field)
            raise
        outcomes.append("ok")
        return n

    monkeypatch.setattr(ledger.store, "save", save)
    return outcomes


# --- deterministic interleavings, on every store ----------------------------------------------------


def test_a_member_enrolled_while_billing_is_billed(ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    rate = rate_rp(ledger)
    for i in (1, 2):
        enrol(ledger, i)
    calls = inject_once(monkeypatch, "expected_by_period", lambda: enrol(ledger, 3))
    saves = record_saves(monkeypatch, ledger)
    result = bill(ledger, PERIOD, on=BILLED_ON)
    # the enrolment committed (first "ok"), the bill decided before it lost on the log, the retry billed three
    assert saves == ["ok", "log", "ok"] and len(calls) == 2
    assert result["members"] == {PERIOD: 3} and result["amount_rp"] == 3 * rate
    views = MoneyViews(ledger.store)
    assert [r["members"] for r in views.rows(views.journal, "invoice_periods")] == [3]
    assert verify(ledger.store)["ok"]  # the lost save left nothing behind: no event, no link of the chain


def test_a_statement_imported_during_a_run_is_reconciled(ledger: Ledger, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    rate = rate_rp(ledger)
    for i in (1, 2):
        enrol(ledger, i)
    invoice = bill(ledger, PERIOD, on=BILLED_ON)["invoice"]
    import_file(ledger, statement_file(tmp_path / "a.csv", [("SP2D-A", "2025-01-20", "777", "salah transfer")],
                                       period="2025-01-01..2025-01-31"))
    late = statement_file(tmp_path / "b.csv", [("SP2D-B", "2025-01-21", str(2 * rate), f"Iuran {invoice}")],
                          period="2025-01-01..2025-01-31")
    calls = inject_once(monkeypatch, "reconcile_payers", lambda: import_file(ledger, late))
    saves = record_saves(monkeypatch, ledger)
    result = execute(ledger, RunReconciliation(payer_id=PAYER, effective_on=date(2025, 1, 31)))
    assert saves == ["ok", "log", "ok"] and len(calls) == 2
    assert result["payers"][PAYER]["lines"] == 2  # the late statement's line too
    assert (result["matched"], result["exceptions"], result["matched_rp"]) == (1, 1, 2 * rate)
    assert new_lines(MoneyViews(ledger.store), PAYER) == []


def test_a_hand_match_racing_another_on_the_same_invoice_never_overallocates(
        ledger: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rate = rate_rp(ledger)
    for i in (1, 2):
        enrol(ledger, i)
    invoice = bill(ledger, PERIOD, on=BILLED_ON)["invoice"]
    short = str(2 * rate - SHORT_RP)  # each of two transfers, on two statements, is nearly the whole invoice
    statements = [import_file(ledger, statement_file(tmp_path / f"{name}.csv", [
        (f"SP2D-{name}", day, short, f"{invoice} {name}")], period=f"{day}..{day}"))["statement"]
        for name, day in (("A", "2025-01-20"), ("B", "2025-01-21"))]
    assert execute(ledger, RunReconciliation(payer_id=PAYER, effective_on=date(2025, 1, 31)))["exceptions"] == 2
    views = MoneyViews(ledger.store)
    lines = {r["statement_id"]: r["line_no"] for r in views.rows(views.journal, "exceptions")}
    assert {r["kind"] for r in views.rows(views.journal, "exceptions")} == {"AMOUNT_MISMATCH"}

    def resolve(statement: str) -> dict[str, Any]:
        return execute(ledger, ResolveException(statement_id=statement[:12], line_no=lines[statement],
                                                action="MATCH", invoice_refs=[invoice], note="checked",
                                                effective_on=date(2025, 2, 2)))

    calls = inject_once(monkeypatch, "invoice_outstanding", lambda: resolve(statements[1]))
    saves = record_saves(monkeypatch, ledger)
    with pytest.raises(RuleViolation) as refused:  # re-decided: only SHORT_RP is left of the invoice
        resolve(statements[0])
    assert refused.value.field == "invoice" and "left over" in refused.value.reason
    # the other statement's match committed; this one lost on the log (its statement and book were not touched
    # in between, so only the log guard could see it), then re-decided; three reads of the invoices
    assert saves == ["ok", "log"] and len(calls) == 3
    outstanding = invoice_outstanding(MoneyViews(ledger.store), PAYER)[invoice]
    assert outstanding["received_rp"] == 2 * rate - SHORT_RP and outstanding["outstanding_rp"] == SHORT_RP


def test_an_unrelated_write_does_not_make_a_bill_retry(ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    """The guard looks at the events that feed the views the bill read, not at every event: a payment (or any
    command's record) written meanwhile lets the bill through at the first attempt."""
    rate = rate_rp(ledger)
    enrol(ledger, 1)
    calls = inject_once(monkeypatch, "expected_by_period", lambda: pay(ledger, 1, [PERIOD], rate, "REF-1"))
    saves = record_saves(monkeypatch, ledger)
    assert bill(ledger, PERIOD, on=BILLED_ON)["members"] == {PERIOD: 1}
    assert saves == ["ok", "ok"] and len(calls) == 1


def test_a_statement_of_another_payer_does_not_make_a_run_retry(ledger: Ledger, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    sign(ledger)
    sign(ledger, code="PTK-TEST-2025", payer_id="PEMKOT-PTK", command_id="sign-ptk")
    import_file(ledger, statement_file(tmp_path / "a.csv", [("SP2D-A", "2025-01-20", "777", "salah transfer")],
                                       period="2025-01-01..2025-01-31"))
    elsewhere = statement_file(tmp_path / "b.csv", [("SP2D-B", "2025-01-21", "777", "salah transfer")],
                               period="2025-01-01..2025-01-31")
    calls = inject_once(monkeypatch, "reconcile_payers", lambda: import_file(ledger, elsewhere, "PEMKOT-PTK"))
    saves = record_saves(monkeypatch, ledger)
    result = execute(ledger, RunReconciliation(payer_id=PAYER, effective_on=date(2025, 1, 31)))
    assert saves == ["ok", "ok"] and len(calls) == 1 and result["payers"][PAYER]["lines"] == 1
    assert len(new_lines(MoneyViews(ledger.store), "PEMKOT-PTK")) == 1  # for its own payer's run


# --- real threads on PostgreSQL ---------------------------------------------------------------------

ENROLLERS_RACE_EVENTS = 8
"""Events the enrollers write while the bill's first decision waits (a few enrolments into each agreement)."""
ENROLLERS = 4
"""Half enrol into the billed agreement (without pause until the bill has lost a race to one of them, then one
each after the bill), half into another agreement without pause until the bill is through (events of the same
types, which the bill must neither count nor retry for)."""
BURST_MAX = 400
"""Enrolments per thread into the billed agreement at most while waiting for the bill to lose a race."""
CALLER_RETRIES_MAX = 20
"""A caller re-sends a bill that gave up (``execute`` already retried it RETRIES_MAX times)."""
OTHER = "OTHER-2025"


def _clock() -> SimulatedClock:
    return SimulatedClock(datetime(2025, 1, 8, 9, tzinfo=WIB))


@pytest.fixture
def pg_url(pg_schema_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("JAMSOS_KEY_FILE", str(tmp_path / "race.key"))
    return pg_schema_url


@pytest.mark.postgres
def test_a_bill_among_concurrent_enrolments_counts_those_before_its_position(
        pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    setup = bootstrap(pg_url, clock=_clock())
    sign(setup)
    sign(setup, code=OTHER, command_id=f"sign-{OTHER}")
    enrol(setup, 0)
    setup.close()
    biller = bootstrap(pg_url, clock=_clock())
    saves = record_saves(monkeypatch, biller)
    reading = threading.Event()
    wait_for_enrolments_after_the_first_read(monkeypatch, biller, reading)
    started = threading.Barrier(ENROLLERS + 1)
    billed = threading.Event()
    errors: list[BaseException] = []

    def enroller(k: int) -> None:
        ledger = bootstrap(pg_url, clock=_clock(), create=False)
        try:
            started.wait(timeout=30)
            first = n = 1 + k * 10_000
            if k % 2:  # into the other agreement, until the bill is through
                while not billed.is_set():
                    enrol(ledger, n, code=OTHER)
                    n += 1
                return
            reading.wait(timeout=60)  # from the bill's first read of its views on
            while "log" not in saves and n - first < BURST_MAX:  # until the bill has lost to one of these
                enrol(ledger, n)
                n += 1
            billed.wait(timeout=120)
            enrol(ledger, n)  # after the bill: never in it
        except BaseException as err:  # reported below
            errors.append(err)
        finally:
            ledger.close()

    threads = [threading.Thread(target=enroller, args=(k,)) for k in range(ENROLLERS)]
    for t in threads:
        t.start()
    result = None
    try:
        started.wait(timeout=30)
        for _ in range(CALLER_RETRIES_MAX):
            try:
                result = execute(biller, BillAgreement(agreement_id=AGREEMENT, period=PERIOD,
                                                       effective_on=BILLED_ON, command_id="bill-race"))
                break
            except ConcurrencyConflict:
                continue
    finally:
        billed.set()
        for t in threads:
            t.join(timeout=120)
    assert errors == []
    assert result is not None, f"the bill never got through ({saves.count('log')} lost races)"
    log = biller.store.read_log(0, 1_000_000)
    biller.close()
    enrolled = [(p, json.loads(state)["agreement_code"]) for p, _, _, topic, state in log
                if topic.endswith(":MemberEnrolled")]
    (invoice,) = [(p, json.loads(state)) for p, _, _, topic, state in log if topic.endswith(":InvoiceIssued")]
    position, issued = invoice
    ours = [p for p, code in enrolled if code == AGREEMENT]
    before = sum(1 for p in ours if p < position)
    assert "log" in saves  # the bill really raced (and lost to) an enrolment into its agreement
    assert len(ours) - before >= ENROLLERS // 2
    assert result["members"] == {PERIOD: before} == {line["period"]: line["members"] for line in issued["lines"]}
    others = sum(1 for p, code in enrolled if code == OTHER and p < position)
    print(f"bill: {before} of {len(ours)} members billed, {others} enrolments into {OTHER} before it, "
          f"{saves.count('log')} lost races")

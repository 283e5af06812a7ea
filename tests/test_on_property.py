"""Property: for random logs and random days D, every report ``--on D`` equals the same report computed from
only the facts effective by D.

The reference is brute force over the events: the log is copied into a fresh store keeping only the facts
effective by D (an event's ``effective_on``; for bank transfers, each statement line's booking day, since
matching, raising and parking a transfer say what that transfer was: see ``ledger.journal``), and the reports
are computed from that store for D. Commands are recorded out of business order (back-dated entries), many
are refused by the rules, and the two answers must still agree.
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import psycopg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from commands import bulk
from commands.messages import (
    AmendBudget,
    ApproveClaim,
    BillAgreement,
    ChangePayer,
    EnrolMember,
    ImportStatement,
    PayClaim,
    PayCohort,
    PayContribution,
    RecordWorkforce,
    RejectClaim,
    ResolveException,
    RunReconciliation,
    SettleRefund,
    SignAgreement,
    StatementLine,
    SubmitClaim,
    Sweep,
)
from eventstore.bootstrap import Ledger, bootstrap
from eventstore.clock import WIB, SimulatedClock
from eventstore.store import LedgerStore, open_store
from ledger.errors import LedgerError, NotFound
from ledger.values import BillingCadence, ClaimType, FundSource, PayerType
from projections.reports import build_report
from tests.conftest import PG_URL, nik, require_postgres, run

EXAMPLES = int(os.environ.get("JAMSOS_PROPERTY_EXAMPLES", "12"))
YEAR_START = date(2025, 1, 1)
NOW = datetime(2026, 6, 1, 9, tzinfo=WIB)
RATE = 16_800
AGREEMENTS = {
    "SKW-P-2025": {"payer_id": "PEMKOT-SKW", "payer_type": PayerType.APBD_KOTA, "fund_source": FundSource.APBD,
                       "region_code": "61.72", "first_period": "2025-01", "last_period": "2025-12",
                       "billing_cadence": BillingCadence.MONTHLY},
    "KDI-P-2025": {"payer_id": "BAZNAS-KDI", "payer_type": PayerType.BAZNAS, "fund_source": FundSource.ZIS,
                       "region_code": "74.71", "first_period": "2025-03", "last_period": "2025-10",
                       "billing_cadence": BillingCadence.ANNUAL},
}
CODES = sorted(AGREEMENTS)
MEMBERS = 5
REGION_OF = {k: ("61.72" if k < 3 else "74.71") for k in range(MEMBERS)}


def day(offset: int) -> date:
    return YEAR_START + timedelta(days=offset)


def member_nik(k: int) -> str:
    return nik(k + 1, REGION_OF[k].replace(".", ""))


days = st.integers(0, 330)
members = st.integers(0, MEMBERS - 1)
who = st.sampled_from([*CODES, None])
operations = st.one_of(
    st.tuples(st.just("enrol"), members, who, days),
    st.tuples(st.just("pay"), members, st.integers(-2, 2), st.integers(1, 3), days),
    st.tuples(st.just("cohort"), st.sampled_from(CODES), st.integers(0, 11), days),
    st.tuples(st.just("change"), members, who, st.integers(0, 11), days),
    st.tuples(st.just("claim"), members, st.sampled_from([ClaimType.JKM_DEATH, ClaimType.JKK_MEDICAL]),
              st.integers(0, 20), days),
    st.tuples(st.just("decide"), st.integers(0, 3), st.sampled_from(["approve", "reject", "pay"]), days),
    st.tuples(st.just("sweep"), days),
    st.tuples(st.just("amend"), st.sampled_from(CODES), st.integers(1, 20), days),
    st.tuples(st.just("bill"), st.sampled_from(CODES), st.integers(0, 11), days),
    st.tuples(st.just("statement"), st.lists(st.tuples(days, st.sampled_from([RATE, 2 * RATE, 12 * RATE, 5_000])),
                                             min_size=1, max_size=4), st.integers(0, 30)),
    st.tuples(st.just("reconcile"), days),
    st.tuples(st.just("resolve"), st.integers(0, 3), st.sampled_from(["WRITE_OFF", "SUSPENSE"]), days),
    st.tuples(st.just("refund"), st.integers(0, 3), days),
    st.tuples(st.just("workforce"), st.sampled_from(["61.72", "74.71"]), st.integers(1_000, 9_000), days),
)


def _run(ledger: Ledger, command: Any, lag_days: int) -> Any:
    """Record ``command`` ``lag_days`` after its business day (never before what was recorded already)."""
    ledger.clock.set_day(command.effective_on + timedelta(days=lag_days))  # type: ignore[attr-defined]
    with contextlib.suppress(LedgerError):
        return run(ledger, command)
    return None


@contextlib.contextmanager
def random_log_ledger(kind: str, folder: Path, monkeypatch: Any, prefix: str) -> Iterator[Ledger]:
    """A fresh ledger for one random log: in memory, or in a PostgreSQL schema of its own (``prefix`` + random)
    dropped afterwards; its key file in ``folder``; its clock at the start of the logs' year."""
    monkeypatch.setenv("JAMSOS_KEY_FILE", str(folder / "k.key"))
    schema = f"{prefix}_{uuid.uuid4().hex[:10]}"
    url = "memory://"
    if kind == "postgres":
        require_postgres()
        url = f"{PG_URL}{'&' if '?' in PG_URL else '?'}schema={schema}"
    ledger = bootstrap(url, clock=SimulatedClock(datetime(2025, 1, 1, 8, tzinfo=WIB)))
    try:
        yield ledger
    finally:
        ledger.close()
        if kind == "postgres":
            with psycopg.connect(PG_URL, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def play(ledger: Ledger, ops: list[tuple[Any, ...]], lags: list[int]) -> None:
    for code, terms in AGREEMENTS.items():
        _run(ledger, SignAgreement(agreement_id=code, name=code, budget_rp=3_000_000, effective_on=day(0), **terms),
             0)
    statements: list[str] = []
    for n, (op, lag) in enumerate(zip(ops, lags, strict=False)):
        kind, *args = op
        if kind == "enrol":
            k, code, on = args
            _run(ledger, EnrolMember(nik=member_nik(k), name=f"P{k}", region_code=REGION_OF[k], role="PETANI",
                                     agreement_id=code, declared_income_rp=None if code else 1_000_000,
                                     effective_on=day(on)), lag)
        elif kind == "pay":
            k, shift, months, on = args
            first = date(2025, max(1, min(12, day(on).month + shift)), 1)
            periods = [f"{first.year}-{m:02d}" for m in range(first.month, min(12, first.month + months - 1) + 1)]
            _run(ledger, PayContribution(nik=member_nik(k), periods=periods, amount_rp=RATE * len(periods),
                                         payment_reference=f"P-{n}", effective_on=day(on)), lag)
        elif kind == "cohort":
            code, month, on = args
            with contextlib.suppress(LedgerError):
                ledger.clock.set_day(day(on) + timedelta(days=lag))
                quote = bulk.quote_cohort(ledger, code, [f"2025-{month + 1:02d}"], day(on))
                if quote["members_payable"]:
                    _run(ledger, PayCohort(agreement_id=code, periods=[f"2025-{month + 1:02d}"],
                                           amount_rp=quote["amount_rp"], payment_reference=f"C-{n}",
                                           effective_on=day(on)), lag)
        elif kind == "change":
            k, code, month, on = args
            _run(ledger, ChangePayer(nik=member_nik(k), agreement_id=code, from_period=f"2025-{month + 1:02d}",
                                     effective_on=day(on)), lag)
        elif kind == "claim":
            k, claim_type, before, on = args
            _run(ledger, SubmitClaim(claim_id=f"K-{n % 4}", nik=member_nik(k), claim_type=claim_type,
                                     event_date=day(max(0, on - before)), medical_cost_rp=1_000_000
                                     if claim_type is ClaimType.JKK_MEDICAL else 0, effective_on=day(on)), lag)
        elif kind == "decide":
            claim, verb, on = args
            command = {"approve": ApproveClaim(claim_id=f"K-{claim}", effective_on=day(on)),
                       "reject": RejectClaim(claim_id=f"K-{claim}", reason_code="DOCS", reason="documents",
                                             effective_on=day(on)),
                       "pay": PayClaim(claim_id=f"K-{claim}", payment_reference=f"PAYOUT-{n}",
                                       effective_on=day(on))}[verb]
            _run(ledger, command, lag)
        elif kind == "sweep":
            _run(ledger, Sweep(effective_on=day(args[0])), lag)
        elif kind == "amend":
            code, millions, on = args
            _run(ledger, AmendBudget(agreement_id=code, budget_rp=millions * 100_000, reason="APBD-P",
                                     effective_on=day(on)), lag)
        elif kind == "bill":
            code, month, on = args
            _run(ledger, BillAgreement(agreement_id=code, period=f"2025-{month + 1:02d}", effective_on=day(on)), lag)
        elif kind == "statement":
            lines, delay = args
            booked = sorted(day(d) for d, _ in lines)
            statement_id = uuid.uuid5(uuid.NAMESPACE_URL, f"statement-{n}").hex * 2
            statements.append(statement_id)
            _run(ledger, ImportStatement(
                payer_id="PEMKOT-SKW", statement_id=statement_id, file_name=f"s{n}.csv", file_format="csv",
                period_start=booked[0], period_end=booked[-1], effective_on=booked[-1] + timedelta(days=delay),
                lines=[StatementLine(line_no=i + 2, reference=f"SP2D-{n}-{i}", booked_on=day(d), amount_rp=amount)
                       for i, (d, amount) in enumerate(lines)]), lag)
        elif kind == "reconcile":
            _run(ledger, RunReconciliation(payer_id="PEMKOT-SKW", effective_on=day(args[0])), lag)
        elif kind == "resolve" and statements:
            line, action, on = args
            _run(ledger, ResolveException(statement_id=statements[-1], line_no=line + 2, action=action,
                                          note="by the property", effective_on=day(on)), lag)
        elif kind == "refund":
            claim, on = args
            _run(ledger, SettleRefund(claim_ref=f"K-{claim}", payer_id="PEMKOT-SKW", amount_rp=RATE,
                                      payment_reference=f"RF-{n}", effective_on=day(on)), lag)
        elif kind == "workforce":
            region, people, on = args
            _run(ledger, RecordWorkforce(region_code=region, workforce=people, source="BPS", effective_on=day(on)),
                 lag)


# --- the reference: only the facts effective by D ---------------------------------------------------------


def facts_by(store: LedgerStore, on: date) -> list[tuple[uuid.UUID, int, str, bytes]]:
    """The stored events as facts effective by ``on``: an event by its ``effective_on``, a statement's parts
    (its lines, their matches, exceptions, and classifications by hand) by their lines' booking days."""
    day_ = on.isoformat()
    kept = []
    booked: dict[tuple[str, int], str] = {}
    statement_of: dict[str, str] = {}
    for _, aggregate_id, version, topic, state in store.read_log(0, 1_000_000):
        kind = topic.rsplit(":", 1)[-1]
        d = orjson.loads(state)
        part: dict[str, Any] | None = d if d["effective_on"] <= day_ else None
        if kind == "StatementImported":
            statement_of[aggregate_id] = d["statement_id"]
            part = d  # the header goes with any of its lines
        elif kind == "StatementLinesRecorded":
            for line in d["lines"]:
                booked[(aggregate_id, line["line_no"])] = line["booked_on"]
            lines = [x for x in d["lines"] if x["booked_on"] <= day_]
            part = {**d, "lines": lines} if lines else None
        elif kind in ("StatementLinesMatched", "ReconciliationExceptionsRaised"):
            key = "matches" if kind == "StatementLinesMatched" else "exceptions"
            parts = [x for x in d[key] if booked[(aggregate_id, x["line_no"])] <= day_]
            part = {**d, key: parts} if parts else None
        elif kind == "ReconciliationExceptionResolved" and d["action"] != "WRITE_OFF":
            part = d if booked[(aggregate_id, d["line_no"])] <= day_ else None
        if part is not None:
            kept.append((uuid.UUID(aggregate_id), version, topic, orjson.dumps(part)))
    return kept


def comparable(report: dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in report.items() if k not in ("position", "generated_at")}, sort_keys=True,
                      default=str)


def reports_on(store: LedgerStore, on: date) -> dict[str, str]:
    out: dict[str, str] = {}
    for name in ("members", "balances", "claims", "coverage", "trial-balance"):
        out[name] = comparable(build_report(store, name, on, None, NOW))
    for code, names in ((CODES[0], ("reconciliation",)), (CODES[1], ("reconciliation", "balances"))):
        for name in names:
            try:
                out[f"{name} {code}"] = comparable(build_report(store, name, on, None, NOW, code))
            except NotFound as err:
                out[f"{name} {code}"] = f"not found: {err.field}"
    return out


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(operations, min_size=8, max_size=28), lags=st.lists(st.integers(0, 45), min_size=28,
                                                                        max_size=28),
       asked=st.lists(days, min_size=1, max_size=2))
def test_every_report_on_a_day_equals_the_report_of_the_facts_effective_by_then(
        ops: list[tuple[Any, ...]], lags: list[int], asked: list[int]) -> None:
    ledger = bootstrap("memory://", clock=SimulatedClock(datetime(2025, 1, 1, 8, tzinfo=WIB)))
    try:
        play(ledger, ops, lags)
        for offset in [*asked, 364]:
            on = day(offset)
            reference = open_store("memory://")
            try:
                facts = facts_by(ledger.store, on)
                if facts:
                    reference.write_rows(facts, [], {})
                expected = reports_on(reference, on)
            finally:
                reference.close()
            actual = reports_on(ledger.store, on)
            for name in actual:
                assert actual[name] == expected[name], f"{name} on {on}"
    finally:
        ledger.close()

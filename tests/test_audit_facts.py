"""The audit trail held as narrow event rows plus each distinct fact once (audit v5) gives exactly the trail of
one wide row per event (v4) on random logs: the whole trail, each subject's and stream's trail, the position
known by an instant, and the audit report's counts — built in random batch sizes and by a rebuild, on SQLite
and PostgreSQL."""

from __future__ import annotations

import random
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventstore.bootstrap import Ledger, bootstrap
from eventstore.clock import WIB, SimulatedClock
from projections.audit import TRAIL_COLUMNS, AuditTrail, position_recorded_by, summary, trail_rows
from projections.reports import audit_report
from projections.runner import ProjectionRunner, read_envelopes, views_engine
from tests.conftest import example_ledger
from tests.test_reports import _scenario, plans


def reference_trail(ledger: Ledger) -> list[dict[str, Any]]:
    """The v4 trail, one wide row per event, computed from the log as v4's ``apply`` did."""
    out = []
    for e in read_envelopes(ledger.store, 0, 100_000):
        get = e.data.get
        out.append(dict(zip(TRAIL_COLUMNS, (
            e.position, get("recorded_at", ""), get("effective_on", ""), get("actor", ""), get("command_id", ""),
            e.originator_id, e.originator_version, e.event_type, get("agreement_code") or get("claim_ref"),
            summary(e)), strict=True)))
    return out


def _check(ledger: Ledger, expected: list[dict[str, Any]]) -> None:
    store, engine = ledger.store, views_engine(ledger.store)
    assert trail_rows(store, engine, limit=100_000) == expected
    for subject in {r["subject"] for r in expected} - {None}:
        assert trail_rows(store, engine, subject=subject) == [r for r in expected if r["subject"] == subject]
    for stream in list({r["aggregate_id"] for r in expected})[:8]:
        assert trail_rows(store, engine, aggregate_ids=[stream]) == [r for r in expected
                                                                     if r["aggregate_id"] == stream]
    instants = sorted({datetime.fromisoformat(r["recorded_at"]) for r in expected})
    for instant in [instants[0] - timedelta(seconds=1), *instants[:: max(1, len(instants) // 10)], instants[-1]]:
        known = [r["position"] for r in expected if datetime.fromisoformat(r["recorded_at"]) <= instant]
        assert position_recorded_by(store, engine, instant) == max(known, default=0), instant
        sections, totals, _ = audit_report(store, instant)
        counts = Counter(r["event_type"] for r in expected if datetime.fromisoformat(r["recorded_at"]) <= instant)
        last = {t: max(r["position"] for r in expected if r["event_type"] == t and r["position"] in known)
                for t in counts}
        assert sections["by_event_type"]["rows"] == [[t, counts[t], last[t]] for t in sorted(counts)]
        assert totals["events"] == len(known)


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=plans, seed=st.integers(0, 1000))
def test_the_facts_give_the_per_event_trail(kind: str, plan: Any, seed: int, tmp_path_factory: Any,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    with example_ledger(kind, tmp_path_factory.mktemp("facts"), monkeypatch) as (ledger, clock):
        _scenario(ledger, clock, plan)
        expected = reference_trail(ledger)
        runner = ProjectionRunner(ledger.store, views_engine(ledger.store), AuditTrail)
        rng = random.Random(seed)
        while runner.step(rng.randint(1, 60)):  # facts cut by batch boundaries anywhere
            pass
        _check(ledger, expected)
        runner.rebuild()
        _check(ledger, expected)


def test_a_cohort_payment_is_a_few_facts_not_a_row_of_text_per_member(tmp_path: Any,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JAMSOS_KEY_FILE", str(tmp_path / "k.key"))
    clock = SimulatedClock(datetime(2025, 1, 2, 8, tzinfo=WIB))
    ledger = bootstrap(f"sqlite:///{tmp_path / 'ledger.db'}", clock=clock)
    try:
        _scenario(ledger, clock, [(6, 1, "cohort")] * 40)
        runner = ProjectionRunner(ledger.store, views_engine(ledger.store), AuditTrail)
        runner.catch_up()
        with runner.engine.connect() as conn:
            facts = conn.execute(runner.active.table("audit_facts").select()).fetchall()
        paid = [f for f in facts if f.event_type == "ContributionPaid"]
        assert sum(f.events for f in paid) == 40 * 6 and len(paid) == 6, [(f.summary, f.events) for f in paid]
        assert trail_rows(ledger.store, runner.engine, limit=100_000) == reference_trail(ledger)
    finally:
        ledger.close()

"""The registers' reports, computed in the database, are byte-identical to the reports as computed before they
moved to SQL (every register row loaded into Python: ``tests/report_reference.py``), on random logs (the ones of
the ``--on`` property test: back-dated entries, payer changes, lapses, deaths, claims, refunds, workforce) and on
several days, with and without ``--agreement``, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventstore.bootstrap import bootstrap
from eventstore.clock import WIB, SimulatedClock
from ledger.errors import NotFound
from projections.facts import registers_for
from projections.reports import REPORTS, build_report
from tests.conftest import PG_URL, require_postgres
from tests.report_reference import reference_report
from tests.test_on_property import CODES, EXAMPLES, NOW, day, days, operations, play


def _same(store: Any, offsets: list[int]) -> None:
    registers, engine, _ = registers_for(store, None)
    for offset in offsets:
        on = day(offset)
        for name in REPORTS:
            for agreement in (None, *CODES):
                try:
                    report = build_report(store, name, on, None, NOW, agreement)
                except NotFound:  # not signed by then: the old code refused the same way (build_report's check)
                    continue
                sections, totals = reference_report(engine, registers, name, on, agreement)
                assert json.dumps([report["sections"], report["totals"]]) == json.dumps([sections, totals]), (
                    f"{name} on {on} agreement {agreement}")


@pytest.mark.parametrize("kind", ["memory", pytest.param("postgres", marks=pytest.mark.postgres)])
@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(ops=st.lists(operations, min_size=8, max_size=28), lags=st.lists(st.integers(0, 45), min_size=28,
                                                                        max_size=28),
       asked=st.lists(days, min_size=1, max_size=3))
def test_sql_reports_equal_the_python_reports_they_replaced(kind: str, ops: list[tuple[Any, ...]], lags: list[int],
                                                            asked: list[int], tmp_path_factory: Any,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    tmp: Path = tmp_path_factory.mktemp("ref")
    monkeypatch.setenv("JAMSOS_KEY_FILE", str(tmp / "k.key"))
    schema = f"r_{uuid.uuid4().hex[:10]}"
    url = "memory://"
    if kind == "postgres":
        require_postgres()
        url = f"{PG_URL}{'&' if '?' in PG_URL else '?'}schema={schema}"
    ledger = bootstrap(url, clock=SimulatedClock(datetime(2025, 1, 1, 8, tzinfo=WIB)))
    try:
        play(ledger, ops, lags)
        _same(ledger.store, [*asked, 364])
    finally:
        ledger.close()
        if kind == "postgres":
            with psycopg.connect(PG_URL, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')

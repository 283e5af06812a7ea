"""The registers' reports, computed in the database, are byte-identical to the reports as computed before they
moved to SQL (every register row loaded into Python: ``tests/report_reference.py``), on random logs (the ones of
the ``--on`` property test: back-dated entries, payer changes, lapses, deaths, claims, refunds, workforce) and on
several days, with and without ``--agreement``, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.errors import NotFound
from projections import balances
from projections.facts import registers_for
from projections.reports import REPORTS, build_report
from tests.report_reference import reference_report
from tests.test_on_property import CODES, EXAMPLES, NOW, day, days, operations, play, random_log_ledger


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
    with random_log_ledger(kind, tmp_path_factory.mktemp("ref"), monkeypatch, "r") as ledger:
        play(ledger, ops, lags)
        _same(ledger.store, [*asked, 364])


@settings(max_examples=max(3, EXAMPLES // 3), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(ops=st.lists(operations, min_size=8, max_size=28), lags=st.lists(st.integers(0, 45), min_size=28,
                                                                        max_size=28),
       asked=st.lists(days, min_size=1, max_size=2))
def test_the_balances_are_the_same_when_every_chain_shape_is_flushed_at_once(
        ops: list[tuple[Any, ...]], lags: list[int], asked: list[int], tmp_path_factory: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The expected side holds at most ``SIGNATURES_MAX`` chain shapes before it counts them
    (``projections.balances.expected_cells``): with room for one only, every member is counted on its own, and
    the report is still the reference's."""
    with random_log_ledger("memory", tmp_path_factory.mktemp("cap"), monkeypatch, "c") as ledger:
        play(ledger, ops, lags)
        monkeypatch.setattr(balances, "SIGNATURES_MAX", 1)
        registers, engine, _ = registers_for(ledger.store, None)
        for on in [day(k) for k in asked] + [day(364)]:
            for agreement in (None, *CODES):
                try:
                    report = build_report(ledger.store, "balances", on, None, NOW, agreement)
                except NotFound:
                    continue
                sections, totals = reference_report(engine, registers, "balances", on, agreement)
                assert json.dumps([report["sections"], report["totals"]]) == json.dumps([sections, totals]), (
                    f"balances on {on} agreement {agreement}")

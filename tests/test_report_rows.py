"""The registers' reports fetch their own rows, not the store's: the rows a report reads from the database do not
grow with the number of members, chains or payments (docs/rules.md#business-time: ``projections.facts.Facts``
states ``--on`` as SQL predicates and every report aggregates in the database)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

import pytest
from sqlalchemy.engine import cursor

from commands.messages import CohortRow, ImportCohort, PayCohort
from eventstore.bootstrap import Ledger
from eventstore.clock import WIB
from projections.reports import REPORTS, build_report
from tests.conftest import execute, nik
from tests.test_behaviour import AGREEMENT, sign

NOW = datetime(2025, 7, 1, 12, tzinfo=WIB)
ON = date(2025, 6, 30)


@pytest.fixture
def fetched(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """A counter of the rows every SQLAlchemy result fetches from its DBAPI cursor."""
    count = [0]

    def counting(method: Callable[..., Any], one: bool) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            rows = method(*args, **kwargs)
            count[0] += (rows is not None) if one else len(rows)
            return rows
        return wrapper

    for cls in (cursor.CursorFetchStrategy, cursor.BufferedRowCursorFetchStrategy,
                cursor.FullyBufferedCursorFetchStrategy):
        for name in ("fetchone", "fetchmany", "fetchall"):
            if name in vars(cls):
                monkeypatch.setattr(cls, name, counting(vars(cls)[name], name == "fetchone"))
    return count


def _enrol_and_pay(ledger: Ledger, first: int, n: int) -> None:
    rows = [(k + 2, CohortRow(nik=nik(first + k), name=f"W{first + k}", role="NELAYAN")) for k in range(n)]
    execute(ledger, ImportCohort(agreement_id=AGREEMENT, rows=rows, effective_on=date(2025, 1, 6)))
    execute(ledger, PayCohort(agreement_id=AGREEMENT, periods=["2025-01..2025-03"], amount_rp=3 * 16_800 * n,
                              payment_reference=f"R{first}", effective_on=date(2025, 3, 7)))


def _rows_read(ledger: Ledger, fetched: list[int], name: str, agreement: str | None) -> int:
    build_report(ledger.store, name, ON, None, NOW, agreement)  # catches the registers up (reads the log)
    before = fetched[0]
    build_report(ledger.store, name, ON, None, NOW, agreement)
    return fetched[0] - before


@pytest.mark.parametrize("agreement", [None, AGREEMENT])
def test_a_report_reads_as_many_rows_for_many_members_as_for_few(ledger: Ledger, fetched: list[int],
                                                                 agreement: str | None) -> None:
    sign(ledger)
    _enrol_and_pay(ledger, 0, 3)
    few = {name: _rows_read(ledger, fetched, name, agreement) for name in REPORTS}
    _enrol_and_pay(ledger, 100, 30)
    many = {name: _rows_read(ledger, fetched, name, agreement) for name in REPORTS}
    # the whole ledger's balances count the plain chains per shape (projections.chain_counts: the 30 alike members
    # are one row); one agreement's balances list its members, so they stream its chains one member at a time (the
    # expected side is ledger.billing's rule, in Python): one row per chain more, and its by_member section reads
    # that agreement's paid member-periods (30 members × 3 periods)
    assert many == {**few, "balances": few["balances"] + (30 + 90 if agreement else 0)}, (few, many)

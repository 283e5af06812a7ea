"""``agreement show`` for several (agreement, day) asked at once gives what each asked alone gives
(``projections.ledger_views.agreement_views``; the figures themselves: tests/test_agreement_figures.py)."""

from __future__ import annotations

from datetime import date

from commands.messages import CohortRow, ImportCohort
from eventstore.bootstrap import Ledger
from projections import ledger_views
from tests.conftest import at, execute, nik
from tests.test_behaviour import AGREEMENT, pay, sign

MEMBERS = 40


def _cohort(ledger: Ledger) -> None:
    sign(ledger)
    rows = [(k + 2, CohortRow(nik=nik(k), name=f"W{k}", role="NELAYAN")) for k in range(MEMBERS)]
    execute(ledger, ImportCohort(agreement_id=AGREEMENT, rows=rows, effective_on=date(2025, 1, 6)))
    pay(ledger, 0, ["2025-01"], 16_800, "REF-0")
    at(ledger.clock, date(2025, 2, 3))  # type: ignore[arg-type]  # the days asked have begun


def test_views_asked_together_equal_views_asked_alone(memory_ledger: Ledger) -> None:
    ledger = memory_ledger
    _cohort(ledger)
    asked = [(AGREEMENT, date(2025, 1, 31)), (AGREEMENT, date(2025, 1, 6)), (AGREEMENT, date(2025, 1, 31))]
    together = ledger_views.agreement_views(ledger, asked, None)
    assert together == [ledger_views.agreement_view(ledger, code, day, None) for code, day in asked]
    assert together[0]["members_enrolled"] == MEMBERS

"""``agreement show`` sums its figures member by member (``projections.ledger_views.agreement_views``): it holds
one member at a time, not every member of the store, and several (agreement, day) asked at once read the members
once and give what each asked alone gives."""

from __future__ import annotations

import weakref
from datetime import date
from typing import Any

import pytest

from commands.messages import CohortRow, ImportCohort
from eventstore.bootstrap import Ledger
from ledger.member import Member
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


def test_an_agreement_view_holds_one_member_at_a_time(memory_ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    ledger = memory_ledger
    _cohort(ledger)
    alive: weakref.WeakSet[Member] = weakref.WeakSet()
    most = [0]
    members = ledger_views._all_members

    def watched(*args: Any) -> Any:
        for member in members(*args):
            alive.add(member)
            most[0] = max(most[0], len(alive))
            yield member

    monkeypatch.setattr(ledger_views, "_all_members", watched)
    view = ledger_views.agreement_view(ledger, AGREEMENT, date(2025, 1, 31), None)
    assert view["members_enrolled"] == MEMBERS and view["contributions_paid_rp"] == 16_800
    assert most[0] <= 2, f"{most[0]} members held at once"


def test_views_asked_together_equal_views_asked_alone(memory_ledger: Ledger) -> None:
    ledger = memory_ledger
    _cohort(ledger)
    asked = [(AGREEMENT, date(2025, 1, 31)), (AGREEMENT, date(2025, 1, 6)), (AGREEMENT, date(2025, 1, 31))]
    together = ledger_views.agreement_views(ledger, asked, None)
    assert together == [ledger_views.agreement_view(ledger, code, day, None) for code, day in asked]
    assert together[0]["members_enrolled"] == MEMBERS

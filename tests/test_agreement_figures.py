"""``agreement show``'s member figures, aggregated in the database (``projections.agreement_figures``), equal the
member-by-member sums they replaced (``tests/agreement_reference.py``) on random logs (back-dated entries, payer
changes, lapses, deaths, claims, refunds), on several days, now and as of earlier recorded instants, in memory
and on PostgreSQL; and the figures never read a member's aggregate."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from commands.messages import ChangePayer
from eventstore.bootstrap import Ledger
from ledger.errors import NotFound
from projections import ledger_views
from projections.agreement_figures import FIGURES
from projections.facts import registers_for
from tests.agreement_reference import reference_figures
from tests.conftest import at, execute, nik
from tests.test_agreement_views import MEMBERS, _cohort
from tests.test_behaviour import AGREEMENT, enrol, pay, sign
from tests.test_on_property import CODES, EXAMPLES, NOW, day, days, operations, play, random_log_ledger
from tests.test_on_semantics import OTHER, two_agreements


def _edges(ledger: Ledger) -> list[date]:
    """The days where a figure can change, and the day before each: enrolments, lapses, deaths, payer changes
    and payments of the log (the rules' boundaries, which random days seldom hit)."""
    registers, engine, _ = registers_for(ledger.store, None)
    asked = [("spells", "enrolled_on"), ("spells", "lapsed_on"), ("members", "died_on"), ("segments", "changed_on")]
    found: set[str] = set()
    with engine.connect() as conn:
        for table, column in asked:
            t = registers.table(table)
            found |= {d for (d,) in conn.execute(select(t.c[column]).distinct()) if d is not None}
        paid = registers.paid_rows()
        found |= {d for (d,) in conn.execute(select(paid.c.paid_on).distinct())}
    edges = {date.fromisoformat(d) + timedelta(days=k) for d in found for k in (-1, 0)}
    return sorted(d for d in edges if d.year == day(0).year)


def _same(ledger: Ledger, days_asked: list[date], as_of: datetime | None) -> int:
    """Compare every agreement on every day asked (asked together: the registers caught up, or rebuilt as of
    ``as_of``, once); how many (agreement, day) were compared."""
    asked = [(code, on) for on in days_asked for code in CODES]
    try:
        views = ledger_views.agreement_views(ledger, asked, as_of)
    except NotFound:  # one not signed (or not recorded) by then: none compared
        return 0
    for (code, on), view in zip(asked, views, strict=True):
        want = reference_figures(ledger, code, view["payer"]["id"], on, as_of)
        assert {name: view[name] for name in FIGURES} == want, f"{code} on {on} as of {as_of}"
    return len(asked)


@pytest.mark.parametrize("kind", ["memory", pytest.param("postgres", marks=pytest.mark.postgres)])
@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(ops=st.lists(operations, min_size=8, max_size=28), lags=st.lists(st.integers(0, 45), min_size=28,
                                                                        max_size=28),
       asked=st.lists(days, min_size=1, max_size=3), back_days=st.integers(1, 200))
def test_agreement_figures_equal_the_member_by_member_sums(kind: str, ops: list[tuple[Any, ...]], lags: list[int],
                                                          asked: list[int], back_days: int, tmp_path_factory: Any,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    with random_log_ledger(kind, tmp_path_factory.mktemp("agr"), monkeypatch, "a") as ledger:
        play(ledger, ops, lags)
        ledger.clock.set_day(NOW.date())  # type: ignore[attr-defined]  # every day asked has begun
        edges = _edges(ledger)
        assert _same(ledger, [*(day(k) for k in asked), day(364), *edges], None) >= len(CODES)  # signed on day 0
        _same(ledger, [day(k) for k in asked], ledger.clock.now() - timedelta(days=back_days))


def test_the_figures_read_no_member_aggregate(memory_ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    """Memory bounded by the answer, not the store: no member is loaded, replayed or read from its snapshot."""
    ledger = memory_ledger
    _cohort(ledger)

    def refused(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a member aggregate was read")

    for name in ("heads", "load", "load_many", "load_existing", "snapshots_of_kind"):
        monkeypatch.setattr(ledger.store, name, refused)
    view = ledger_views.agreement_view(ledger, AGREEMENT, date(2025, 1, 31), None)
    assert view["members_enrolled"] == view["members_active_on"] == MEMBERS
    assert view["members_covered_on"] == 1 and view["contributions_paid_rp"] == 16_800  # one paid (_cohort)


def test_a_member_moved_to_another_payer_counts_for_the_payer_of_the_period(ledger: Ledger) -> None:
    """Member 1 moves from Singkawang to Pontianak from March: Singkawang still counts them enrolled, but active
    only up to February; Pontianak counts them enrolled (a segment of theirs) and active from March. The
    member-by-member sums agree on every day."""
    two_agreements(ledger)
    execute(ledger, ChangePayer(nik=nik(1), agreement_id=OTHER, from_period="2025-03",
                                effective_on=date(2025, 2, 20)))
    at(ledger.clock, date(2025, 4, 1))  # type: ignore[arg-type]
    figures = {(code, on): ledger_views.agreement_view(ledger, code, on, None)
               for code in (AGREEMENT, OTHER) for on in (date(2025, 2, 28), date(2025, 3, 1), date(2025, 3, 31))}
    for (code, on), view in figures.items():
        assert {name: view[name] for name in FIGURES} == reference_figures(ledger, code, view["payer"]["id"], on,
                                                                           None), (code, on)
    active = {key: view["members_active_on"] for key, view in figures.items()}
    assert active[AGREEMENT, date(2025, 2, 28)] == 2 and active[AGREEMENT, date(2025, 3, 1)] == 1
    assert active[OTHER, date(2025, 2, 28)] == 1 and active[OTHER, date(2025, 3, 31)] == 2
    assert figures[OTHER, date(2025, 3, 1)]["members_enrolled"] == 2  # member 3, and member 1's new segment
    assert figures[AGREEMENT, date(2025, 3, 1)]["members_enrolled"] == 2


def test_a_chain_anchored_mid_month_is_in_last_month_s_period_before_its_anchor_day(ledger: Ledger) -> None:
    """A self-payer registered on the 15th (periods run from the 15th) moves to the agreement: on 10 March the
    period is February's, paid by the agreement, so the member is covered then; the sums agree."""
    sign(ledger, last="2025-12")
    enrol(ledger, 1, None, on=date(2025, 1, 15), declared_income_rp=2_000_000)
    execute(ledger, ChangePayer(nik=nik(1), agreement_id=AGREEMENT, from_period="2025-02",
                                effective_on=date(2025, 1, 20)))
    pay(ledger, 1, ["2025-02"], 26_800, "R-1-FEB", on=date(2025, 2, 16))  # the tariff at the declared income
    at(ledger.clock, date(2025, 4, 1))  # type: ignore[arg-type]
    for on, covered in ((date(2025, 3, 10), 1), (date(2025, 3, 20), 0)):  # February's period, then March's
        view = ledger_views.agreement_view(ledger, AGREEMENT, on, None)
        assert {name: view[name] for name in FIGURES} == reference_figures(ledger, AGREEMENT, view["payer"]["id"],
                                                                           on, None), on
        assert view["members_enrolled"] == view["members_active_on"] == 1 and view["members_covered_on"] == covered

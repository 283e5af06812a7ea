"""``agreement show`` from the registers: the agreement's terms and its member figures on a day.

:func:`agreement_document` is what ``jamsos agreement show`` and ``/api/v1/agreements/{id}`` print: the terms from
the ``agreements`` and ``budgets`` registers, and the member figures of :func:`agreement_figures`, each one
aggregating query over the register tables (``spells``, ``segments``, ``members`` and the paid runs), so neither
time nor memory in Python grows with the members of the store. It reads any
:class:`projections.facts.TableSource` (the full path's caught-up registers, an in-memory rebuild for ``--as-of``,
or the light path's serving tables) and imports nothing of the write side. The figures:

- **enrolled**: members with a chain enrolled by ``on`` that the agreement funds in some segment;
- **active** on ``on``: of those, members inside a chain on that day (enrolled by it, not lapsed by it, not dead
  before it) whose period on that day is paid for by the agreement's payer (``Spell.segment_for``: the last
  segment starting by that period, else the chain's first);
- **covered** on ``on``: of the active, those whose period on that day is paid (by anyone, whenever);
- **paid**: the contributions the agreement paid for those members by ``on``, and of them the refunds due once
  the member's death is effective by ``on``.

These are the rules of ``ledger.coverage.spell_on`` / ``is_covered`` over a member's state, stated over the
registers; ``tests/test_agreement_figures.py`` holds them equal to the member-by-member sums on random logs.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, case, exists, func, literal, or_, select
from sqlalchemy.engine import Engine

from ledger.errors import NotFound
from ledger.values import Period, budget_in_force
from projections.facts import TableSource, period_containing
from projections.register_reports import report_day

FIGURES = ("members_enrolled", "members_active_on", "members_covered_on", "contributions_paid_rp", "refunds_due_rp")
"""The member figures of an agreement on a day, as ``agreement show`` names them."""


def _period_paid(registers: TableSource, chains: Any, on: date) -> Any:
    """Whether the member of each row of ``chains`` was paid its ``period`` (by anyone, whenever). The period a
    chain is in on ``on`` is ``on``'s month or the one before (:func:`projections.facts.period_containing`), so
    the runs that paid each of those two are found once, and a member's own runs (by member) are looked up in
    them: no per-member pass over every run and payment (what PostgreSQL planned without statistics: 8.9 s at
    150,000 members)."""
    rm, r = registers.table("paid_run_members"), registers.table("paid_runs")
    p, pp = registers.table("paid_payments"), registers.table("paid_payment_periods")

    def runs_paying(period: str) -> Any:
        return (select(r.c.run_id)
                .select_from(r.join(p, and_(p.c.series == r.c.series,
                                            p.c.ordinal.between(r.c.first_ordinal, r.c.last_ordinal)))
                             .join(pp, pp.c.payment_no == p.c.payment_no))
                .where(pp.c.period == period))

    this = Period(on.year, on.month)
    either = [and_(chains.c.period == str(month), rm.c.run_id.in_(runs_paying(str(month))))
              for month in (this, this - 1)]
    return exists().where(rm.c.member_id == chains.c.member_id, or_(*either))


def _enrolled_under(registers: TableSource, code: str, day: str, name: str) -> Any:
    """The members (one row per chain) with a chain enrolled by ``day`` that ``code`` funds in some segment."""
    funded, chain = registers.table("segments").alias(f"{name}_funded"), registers.table("spells").alias(name)
    return (select(funded.c.member_id)
            .join(chain, and_(chain.c.member_id == funded.c.member_id, chain.c.spell_no == funded.c.spell_no))
            .where(funded.c.agreement_code == code, chain.c.enrolled_on <= day))


def agreement_figures(engine: Engine, registers: TableSource, code: str, payer_id: str, on: date) -> dict[str, int]:
    """The :data:`FIGURES` of agreement ``code`` (whose payer is ``payer_id``) on ``on``."""
    day = on.isoformat()
    spells, segments, members = registers.table("spells"), registers.table("segments"), registers.table("members")
    under = _enrolled_under(registers, code, day, "under_chain").distinct().cte("under")
    # the chain a member is in on the day (the last one enrolled by it and not lapsed by it)
    inside = spells.alias("inside")
    chain_no = (select(func.max(inside.c.spell_no))
                .where(inside.c.member_id == under.c.member_id, inside.c.enrolled_on <= day,
                       or_(inside.c.lapsed_on.is_(None), inside.c.lapsed_on > day))
                .correlate(under).scalar_subquery())
    on_day = (select(under.c.member_id, chain_no.label("spell_no"), members.c.died_on)
              .select_from(under.outerjoin(members, members.c.member_id == under.c.member_id))).subquery("on_day")
    chain = spells.alias("chain")
    period = period_containing(on, chain.c.anchor_day)
    chosen, first, pick = segments.alias("chosen"), segments.alias("first"), segments.alias("pick")

    def same_chain(s: Any) -> Any:
        return and_(s.c.member_id == on_day.c.member_id, s.c.spell_no == on_day.c.spell_no)

    from_period = func.coalesce(
        select(func.max(chosen.c.from_period)).where(same_chain(chosen), chosen.c.from_period <= period)
        .correlate_except(chosen).scalar_subquery(),
        select(func.min(first.c.from_period)).where(same_chain(first)).correlate_except(first).scalar_subquery())
    payer = (select(pick.c.payer_id).where(same_chain(pick), pick.c.from_period == from_period)
             .correlate_except(pick).scalar_subquery())
    on_period = (select(on_day.c.member_id, on_day.c.died_on, on_day.c.spell_no, period.label("period"),
                        payer.label("payer_id"))
                 .select_from(on_day.outerjoin(chain, same_chain(chain)))).subquery("on_period")
    alive = or_(on_period.c.died_on.is_(None), on_period.c.died_on >= day)
    active = and_(on_period.c.spell_no.is_not(None), alive, on_period.c.payer_id == payer_id)
    counted = select(func.count(), func.sum(case((active, 1), else_=0)),
                     func.sum(case((and_(active, _period_paid(registers, on_period, on)), 1), else_=0)))
    paid = registers.paid_rows()
    died = select(members.c.died_on).where(members.c.member_id == paid.c.member_id).scalar_subquery()
    refund = and_(paid.c.refund_due != 0, died <= day)
    # "its member is one of ``under``" as an IN inside the sums' CASE, not in WHERE: there it cannot become a join
    # (without statistics, after a fresh rebuild, PostgreSQL nested-looped every paid row against every member:
    # 2.4-4.5 s at 30,000 members), so both databases build the set of members once and probe it per row
    enrolled_under = paid.c.member_id.in_(_enrolled_under(registers, code, day, "paid_chain"))
    sums = (select(func.sum(case((enrolled_under, paid.c.amount_rp), else_=literal(0))),
                   func.sum(case((and_(enrolled_under, refund), paid.c.amount_rp), else_=literal(0))))
            .where(paid.c.agreement_code == code, paid.c.paid_on <= day))
    with engine.connect() as conn:
        enrolled, active_n, covered_n = conn.execute(counted).one()
        paid_rp, refund_rp = conn.execute(sums).one()
    figures = (enrolled, active_n, covered_n, paid_rp, refund_rp)
    result: dict[str, Any] = {name: int(value or 0) for name, value in zip(FIGURES, figures, strict=True)}
    assert result["members_covered_on"] <= result["members_active_on"] <= result["members_enrolled"], result
    assert 0 <= result["refunds_due_rp"] <= result["contributions_paid_rp"], result
    return result


def agreement_document(engine: Engine, registers: TableSource, code: str, on: date | None, now: datetime,
                       as_of: datetime | None) -> dict[str, Any]:
    """Agreement ``code`` on ``on`` (default: today in its region's zone at ``now``) from ``registers`` (projected
    up to ``as_of``, which the document names): :class:`ledger.errors.NotFound` when it is unknown there or was
    signed after that day."""
    agreements, budgets = registers.table("agreements"), registers.table("budgets")
    with engine.connect() as conn:
        row = conn.execute(select(agreements).where(agreements.c.code == code)).mappings().first()
        if row is None:
            raise NotFound("agreement_id", f"unknown agreement {code}")
        ceilings = [tuple(b) for b in conn.execute(
            select(budgets.c.effective_on, budgets.c.position, budgets.c.budget_rp)
            .where(budgets.c.agreement_code == code))]
    day = report_day(now, on, row["region_code"]).on
    if row["signed_on"] > day.isoformat():
        raise NotFound("agreement_id", f"agreement {code} was signed on {row['signed_on']}, after {day.isoformat()}")
    figures = agreement_figures(engine, registers, code, row["payer_id"], day)
    return {
        "agreement_id": row["code"],
        "name": row["name"],
        "payer": {"id": row["payer_id"], "name": row["payer_name"], "type": row["payer_type"],
                  "fund_source": row["fund_source"]},
        "legal_basis": row["legal_basis"],
        "region_code": row["region_code"],
        "window": f"{row['first_period']}..{row['last_period']}",
        "programmes": row["programmes"].split(",") if row["programmes"] else [],
        "rate_per_member_month_rp": row["rate_rp"],
        "billing_cadence": row["cadence"],
        "budget_rp": budget_in_force(ceilings, day.isoformat()),
        "closed": bool(row["closed"]),
        "members_enrolled": figures["members_enrolled"],
        "on": day.isoformat(),
        "members_active_on": figures["members_active_on"],
        "members_covered_on": figures["members_covered_on"],
        "contributions_paid_rp": figures["contributions_paid_rp"],
        "refunds_due_rp": figures["refunds_due_rp"],
        "as_of": as_of.isoformat() if as_of else None,
    }

"""The registers as the business stood on a day: the one place that gives ``--on`` its meaning for the registers'
reports (docs/rules.md#business-time), and the registers to read them from (now, or as of a recorded time).

The rule is stated here once, as SQL: :class:`Facts` gives the reports the registers' rows *effective by* the
report's day as queries (``chains``, ``segments``, ``paid``), so every report aggregates in the database and
fetches only its own rows, never the store's. The few small tables (agreements, budgets, workforce) and the
claims (each claim is a row of the claims report anyway) are read into Python, filtered in the query.
"""

from __future__ import annotations

import calendar
import copy
from collections import defaultdict
from collections.abc import Callable
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias

from sqlalchemy import Integer, Table, and_, case, cast, exists, func, literal, or_, select, union_all
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql import ColumnElement, Select, Subquery
from sqlalchemy.sql.selectable import CTE

from ledger.values import Period, budget_in_force

if TYPE_CHECKING:
    from eventstore.store import LedgerStore
    from projections.registers import Registers


class TableSource(Protocol):
    """Where the register tables are: ``projections.registers.Registers`` (a generation of the projection), or
    ``projections.read_only.ServingRegisters`` (the serving tables, as the database describes them)."""

    def table(self, name: str) -> Table: ...

    def paid_rows(self, shape: str = "rows") -> Subquery:
        """Every member-period paid, one row each, or grouped by run, or only those refunded
        (``projections.paid_runs.PAID_SHAPES``)."""
        ...


def registers_for(store: LedgerStore, as_of: datetime | None) -> tuple[Registers, Engine, int]:
    """The registers to report from: caught up now, or rebuilt in memory up to the ``as_of`` position. (The
    runner is imported here: :class:`Facts` itself reads any :class:`TableSource` without it.)"""
    from projections.audit import position_recorded_by
    from projections.registers import Registers
    from projections.runner import ProjectionRunner, memory_views_engine, views_engine

    engine = views_engine(store)
    if as_of is None:
        runner = ProjectionRunner(store, engine, Registers)
        runner.catch_up()
        return runner.active, engine, runner.status()["position"]  # type: ignore[return-value]
    position = position_recorded_by(store, engine, as_of)
    memory = memory_views_engine()
    runner = ProjectionRunner(store, memory, Registers)
    runner.catch_up(until=position)
    return runner.active, memory, position  # type: ignore[return-value]


def register_rows(engine: Engine, registers: TableSource, table: str) -> list[dict[str, Any]]:
    """Every row of a small register table (agreements, budgets, workforce), or of ``paid``, as dicts."""
    t = registers.paid_rows() if table == "paid" else registers.table(table)
    with engine.connect() as conn:
        result = conn.execute(select(t))
        keys = list(result.keys())  # once: a row's own mapping builds its key view anew for every row
        return [dict(zip(keys, row, strict=True)) for row in result]


Chains: TypeAlias = Subquery | CTE
"""The chains of :meth:`Facts.chains`, or a selection of them with the same columns."""


def by_day(column: ColumnElement[Any], day: str) -> ColumnElement[Any]:
    """A dated fact's date if it is effective by ``day`` (ISO dates compare as text), else NULL."""
    return case((column <= day, column), else_=None)


class Facts:
    """The registers as the business stood on ``on``: the one place that gives ``--on`` its meaning for the
    registers' reports (docs/rules.md#business-time).

    Only facts effective by ``on`` are kept: agreements signed, chains enrolled, payer changes decided,
    payments made, lapses and deaths effective, refunds due, claims submitted, workforce figures, by then; a
    lapse, death or claim step after ``on`` is not known to have happened. Which events the registers know at
    all (``--as-of``) is decided before, by the log position they were projected to. With ``scope`` (one
    agreement) only the chains it funds by ``on`` (any of their payers), its payments and its claims are kept.

    Invariant: every query here is over the register tables with the day (and scope) as predicates; the rows a
    report fetches are its own (aggregates, or rows it lists), so its memory does not grow with the store.
    """

    def __init__(self, engine: Engine, registers: TableSource, on: date, scope: str | None = None) -> None:
        self.engine, self.registers, self.on = engine, registers, on
        day = self.day = on.isoformat()
        self.scope = scope
        """The one agreement this report is restricted to, if any."""
        self.chain_members: Table | None = None
        """When set, a table whose ``member_id`` column lists the only members whose chains :meth:`chains` gives
        (:meth:`entangled`)."""
        budgets: dict[str, list[tuple[str, int, int]]] = defaultdict(list)
        for b in register_rows(engine, registers, "budgets"):
            budgets[b["agreement_code"]].append((b["effective_on"], b["position"], b["budget_rp"]))
        self.agreements = {a["code"]: {**a, "budget_rp": _or(budget_in_force(budgets[a["code"]], day), a["budget_rp"])}
                           for a in register_rows(engine, registers, "agreements")
                           if a["signed_on"] <= day and (scope is None or a["code"] == scope)}
        self.workforce = sorted((w for w in register_rows(engine, registers, "workforce") if w["effective_on"] <= day),
                                key=lambda w: (w["region_code"], w["effective_on"]))
        self.claims = self._claims()

    def entangled(self) -> Facts:
        """These facts with only the chains of the entangled members (``projections.chain_counts``: more than
        one chain or payer); the plain ones are counted in ``chain_counts``."""
        other = copy.copy(self)
        other.chain_members = self.table("entangled_members")
        return other

    def table(self, name: str) -> Any:
        """A register table; ``paid`` is every member-period paid, one row each (``Registers.paid_rows``)."""
        return self.registers.paid_rows() if name == "paid" else self.registers.table(name)

    def segments(self) -> Subquery:
        """Every payer segment decided by ``on`` (a chain's first is its enrolment's)."""
        s = self.table("segments")
        return select(s).where(s.c.changed_on <= self.day).subquery("segs")

    def chains(self) -> Subquery:
        """Every chain enrolled by ``on`` (in scope), its lapse and its member's death as known on ``on`` (NULL if
        after), ``first_from`` and ``first_code`` (its first segment's period and agreement, SELF for none) and
        ``changed`` (a payer change decided by ``on``). A chain's member and first segment are always there (the
        enrolment writes both); they are outer-joined only so that a query not reading them skips them.

        A chain's first segment is its enrolment's (from its first period, decided on its enrolment day): a payer
        change starts after the current payer's first period (docs/rules.md#business-time, dependent facts)."""
        s, m, seg = self.table("spells"), self.table("members"), self.table("segments")
        first = seg.alias("first_segment")
        lapsed = by_day(s.c.lapsed_on, self.day)
        changed = exists().where(seg.c.member_id == s.c.member_id, seg.c.spell_no == s.c.spell_no,
                                 seg.c.from_period > s.c.first_period, seg.c.changed_on <= self.day)
        query = (select(s.c.member_id, s.c.spell_no, s.c.enrolled_on, s.c.first_period, s.c.anchor_day,
                        s.c.region_code, s.c.village_code, s.c.role, s.c.declared_income_rp, s.c.programmes,
                        lapsed.label("lapsed_on"), case((lapsed.is_not(None), s.c.lapse_reason)).label("lapse_reason"),
                        by_day(m.c.died_on, self.day).label("died_on"), s.c.first_period.label("first_from"),
                        self_or(first.c.agreement_code).label("first_code"), changed.label("changed"))
                 .select_from(s.outerjoin(m, m.c.member_id == s.c.member_id)  # both always there: outer
                              .outerjoin(first, and_(first.c.member_id == s.c.member_id,
                                                     first.c.spell_no == s.c.spell_no,
                                                     first.c.from_period == s.c.first_period)))
                 .where(s.c.enrolled_on <= self.day))
        if self.chain_members is not None:
            query = query.where(s.c.member_id.in_(select(self.chain_members.c.member_id)))
        if self.scope is not None:
            query = query.where(exists().where(seg.c.member_id == s.c.member_id, seg.c.spell_no == s.c.spell_no,
                                               seg.c.agreement_code == self.scope, seg.c.changed_on <= self.day))
        return query.subquery("chains")

    def active(self, chains: Chains, day: Any = None) -> ColumnElement[bool]:
        """A chain is active on ``day`` (default ``on``; any day up to ``on``): enrolled by then, not lapsed by
        then (active until the lapse's day), its member not dead before it (covered on the day of death)."""
        day = self.day if day is None else day
        return and_(chains.c.enrolled_on <= day, or_(chains.c.lapsed_on.is_(None), chains.c.lapsed_on > day),
                    or_(chains.c.died_on.is_(None), chains.c.died_on >= day))

    def segment_at(self, chains: Chains, within: Callable[[ColumnElement[Any]], ColumnElement[bool]],
                   day: Any = None) -> ColumnElement[Any]:
        """The agreement (SELF for none) paying a chain's period: the last segment whose ``from_period`` is
        ``within`` the period, decided by ``day`` (default ``on``), else the chain's first
        (``ledger.coverage.Spell.segment_for`` over the segments as they stood)."""
        seg, pick = self.table("segments").alias("seg_at"), self.table("segments").alias("seg_code")
        day = self.day if day is None else day
        chosen = (select(func.max(seg.c.from_period))
                  .where(seg.c.member_id == chains.c.member_id, seg.c.spell_no == chains.c.spell_no,
                         within(seg.c.from_period), seg.c.changed_on <= day).correlate_except(seg).scalar_subquery())
        code = (select(pick.c.agreement_code)
                .where(pick.c.member_id == chains.c.member_id, pick.c.spell_no == chains.c.spell_no,
                       pick.c.from_period == func.coalesce(chosen, chains.c.first_from)).correlate_except(pick)
                .scalar_subquery())
        return case((chains.c.changed, self_or(code)), else_=self.first_code(chains))

    def first_code(self, chains: Chains) -> ColumnElement[Any]:
        """The agreement (SELF for none) a chain was enrolled under: its first segment's."""
        return chains.c.first_code

    def paid(self) -> Select[Any]:
        """Every member-period paid by ``on`` (in scope), ``refund_due`` 1 only if the refund was due by then."""
        p = self.table("paid")
        refund = case((and_(p.c.refund_due != 0, p.c.refund_due_on <= self.day), 1), else_=0).label("refund_due")
        return self._paid_by_day(p, select(*(c for c in p.c if c.name != "refund_due"), refund))

    def paid_groups(self) -> Select[Any]:
        """The member-periods of :meth:`paid` grouped by run, payment and period, ``members`` in each: their sums
        without a row per member (``projections.paid_runs.PAID_GROUPS_SQL``); refunds are :meth:`paid_refunded`."""
        g = self.registers.paid_rows("groups")
        return self._paid_by_day(g, select(g))

    def paid_refunded(self) -> Select[Any]:
        """The member-periods of :meth:`paid` whose refund was due by ``on`` (``refund_due`` 1 there)."""
        r = self.registers.paid_rows("refunded")
        return self._paid_by_day(r, select(r).where(r.c.refund_due_on <= self.day))

    def _paid_by_day(self, paid: Subquery, query: Select[Any]) -> Select[Any]:
        """``query`` over a shape of the paid rows, narrowed to what was paid by ``on`` (in scope)."""
        query = query.where(paid.c.paid_on <= self.day)
        return query.where(paid.c.agreement_code == self.scope) if self.scope is not None else query

    def _claims(self) -> list[dict[str, Any]]:
        """The claims submitted by ``on`` (in scope), each as it stood then, with its member's region (``?`` if
        the member is not in the registers), by claim id."""
        c, m = self.table("claims"), self.table("members")
        query = (select(c, case((m.c.member_id.is_(None), "?"), else_=m.c.region_code).label("member_region"))
                 .select_from(c.outerjoin(m, m.c.member_id == c.c.member_id))
                 .where(c.c.submitted_on <= self.day).order_by(c.c.claim_id))
        if self.scope is not None:
            query = query.where(c.c.agreement_code == self.scope)
        with self.engine.connect() as conn:
            result = conn.execute(query)
            keys = list(result.keys())
            return [claim_on(dict(zip(keys, row, strict=True)), self.day) for row in result]

    def period_on(self, anchor_day: ColumnElement[Any]) -> ColumnElement[Any]:
        """``Period.containing(on, anchor_day)`` of each chain, as text."""
        return period_containing(self.on, anchor_day)


def count_by(conn: Connection, keyed: Subquery) -> list[tuple[Any, ...]]:
    """``(*keys, count)`` of ``keyed`` grouped by all its columns (the keys are computed in the subquery, so the
    GROUP BY names plain columns on every dialect)."""
    return [(*row[:-1], int(row[-1])) for row in conn.execute(select(*keyed.c, func.count()).group_by(*keyed.c))]


SELF = "SELF"
"""How the reports name a self-paying segment's agreement (it has none): one row for all self-payers, whose payer
ids are per member."""


def self_or(code: ColumnElement[Any]) -> ColumnElement[Any]:
    """An agreement code, or SELF for a self-paying segment (no code), in SQL (:func:`self_or_code` in Python)."""
    return func.coalesce(func.nullif(code, ""), SELF)


def self_or_code(code: str | None) -> str:
    """An agreement code, or SELF for a self-paying segment (no code or ``''``), as :func:`self_or` in SQL."""
    return code or SELF


def period_containing(day: date, anchor_day: ColumnElement[Any]) -> ColumnElement[Any]:
    """``str(Period.containing(day, anchor_day))`` for a fixed ``day``: the day's month once the anchor day (clamped
    to the month's last day) has come, else the month before."""
    this = Period(day.year, day.month)
    if day.day == calendar.monthrange(day.year, day.month)[1]:  # every anchor day has come by the month's end
        return literal(str(this))
    return case((anchor_day <= day.day, str(this)), else_=str(this - 1))


def counted_days(days: list[str]) -> Subquery:
    """The days ``days`` as a table: ``i`` (their index), ``day``, and what :func:`period_containing_counted` needs
    (``dd`` the day of the month, ``last`` 1 on a month's last day, ``this`` its month, ``prev`` the one before)."""
    rows = []
    for i, text in enumerate(days):
        d = date.fromisoformat(text)
        this = Period(d.year, d.month)
        rows.append(select(literal(i).label("i"), literal(text).label("day"), literal(d.day).label("dd"),
                           literal(int(d.day == calendar.monthrange(d.year, d.month)[1])).label("last"),
                           literal(str(this)).label("this"), literal(str(this - 1)).label("prev")))
    return union_all(*rows).subquery("counted")


def period_containing_counted(counted: Subquery, anchor_day: ColumnElement[Any]) -> ColumnElement[Any]:
    """:func:`period_containing` for each day of :func:`counted_days` (the same rule, the day a column)."""
    return case((or_(counted.c.last == 1, anchor_day <= counted.c.dd), counted.c.this), else_=counted.c.prev)


def period_index(text: ColumnElement[Any]) -> ColumnElement[Any]:
    """``Period.parse(text).index`` of a ``YYYY-MM…`` text (a period, or a day's month)."""
    return cast(func.substr(text, 1, 4), Integer) * 12 + cast(func.substr(text, 6, 2), Integer) - 1


def last_covered_index(lapsed_on: ColumnElement[Any], anchor_day: ColumnElement[Any]) -> ColumnElement[Any]:
    """``(Period.containing(lapsed_on, anchor_day) - 1).index``: the last period a lapsed chain covered."""
    year, month = cast(func.substr(lapsed_on, 1, 4), Integer), cast(func.substr(lapsed_on, 6, 2), Integer)
    dd = cast(func.substr(lapsed_on, 9, 2), Integer)
    leap = or_(and_(year % 4 == 0, year % 100 != 0), year % 400 == 0)
    days = case((month.in_([4, 6, 9, 11]), 30), (month == 2, case((leap, 29), else_=28)), else_=31)
    begun = or_(dd >= anchor_day, dd == days)  # the period's start: the anchor day, clamped to the month's end
    return period_index(lapsed_on) - case((begun, 1), else_=2)


def _or(value: int | None, default: int) -> int:
    return default if value is None else value


def _by(value: str | None, day: str) -> str | None:
    """A dated fact's date if it is effective by ``day`` (ISO dates compare as text), else None."""
    return value if value is not None and value <= day else None


def claim_on(claim: dict[str, Any], day: str) -> dict[str, Any]:
    """A claim as it stood on ``day``: its status then, and its amount only once decided by then."""
    paid, decided = _by(claim["paid_on"], day), _by(claim["decided_on"], day)
    held = _by(claim["held_on"], day) is not None and _by(claim["released_on"], day) is None
    if paid:
        status = "PAID"
    elif decided:
        status = "REJECTED" if claim["status"] == "REJECTED" else "APPROVED"
    else:
        status = "HELD" if held else "SUBMITTED"
    approved = status in ("APPROVED", "PAID")
    return {**claim, "status": status, "paid_on": paid, "decided_on": decided,
            "amount_rp": claim["amount_rp"] if approved else 0,
            "components": claim["components"] if approved else "{}",
            "reason_code": claim["reason_code"] if status == "REJECTED" else None,
            "payment_reference": claim["payment_reference"] if paid else None}

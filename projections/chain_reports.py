"""The reports over the membership chains, aggregated in the database: ``members`` and ``coverage``.

Each figure is one aggregating query over :class:`projections.facts.Facts`' chains (the rule of ``--on`` lives
there); Python only folds the grouped rows into the report's sections. The members report reads the plain
chains (one chain, one payer: almost all) from their counts, kept with the registers
(:mod:`projections.chain_counts`), and only the entangled members' chains from the registers. Invariant: the rows
fetched are aggregates (per agreement, region, role, village, month, reason), so neither time nor memory in Python
grows with the number of chains or payments — only with the report's own size.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import date
from itertools import chain
from typing import Any

from sqlalchemy import and_, case, func, select
from sqlalchemy.engine import Connection

from projections.chain_counts import plain_chain_rows
from projections.facts import Facts, count_by, last_covered_index, period_index, self_or, self_or_code
from projections.member_months import active_by_month


def _section(columns: list[str], rows: list[list[Any]]) -> dict[str, Any]:
    return {"columns": columns, "rows": rows}


def members_report(facts: Facts, on: date) -> tuple[dict[str, Any], dict[str, Any]]:
    """Chains per agreement (enrolled under it, taken over by it from another payer, active, lapsed), active
    members per region, role and village, enrolments, lapses and reinstated months per month, and the chains
    active at each month's end per agreement (:mod:`projections.member_months`).

    Invariants: the ``enrolled`` column sums to the ``enrolments`` of ``by_month`` (a chain is enrolled under
    exactly one payer, the one of its first segment); a lapse counts for the payer of the chain's last covered
    period; an active chain counts for the payer of the period ``on`` falls in."""
    per_agreement: dict[str, Counter[str]] = defaultdict(Counter)
    monthly: dict[str, Counter[str]] = defaultdict(Counter)
    by_region: Counter[str] = Counter()
    by_role: Counter[str] = Counter()
    by_village: Counter[str] = Counter()
    one_payer: list[tuple[str, str, str | None, str | None, int]] = []
    first_enrolled: str | None = None
    with facts.engine.connect() as conn:
        plain_days = plain_chain_days(conn, facts)
        plain_active = plain_chains_active(conn, facts)
        facts = facts.entangled()  # from here on, the chains the counts do not hold
        for code, enrolled_on, lapse_code, reason, lapsed_on, died_on, changed, n in [*plain_days,
                                                                                   *_chain_days(conn, facts)]:
            per_agreement[code]["enrolled"] += n
            monthly[enrolled_on[:7]]["enrolments"] += n
            first_enrolled = min(first_enrolled or enrolled_on, enrolled_on)
            if lapsed_on is not None:
                per_agreement[lapse_code][f"lapsed_{reason.lower()}"] += n
                monthly[lapsed_on[:7]][f"lapses_{reason.lower()}"] += n
            if not changed:
                one_payer.append((code, enrolled_on, lapsed_on, died_on, n))
        for code, n in _take_overs(conn, facts):
            per_agreement[code]["taken_over"] += n
        ch = facts.chains()
        active = (select(facts.segment_at(ch, lambda fp: fp <= facts.period_on(ch.c.anchor_day)).label("code"),
                         ch.c.region_code, ch.c.role, ch.c.village_code)
                  .where(facts.active(ch)).subquery("active"))
        plain_people = 0
        for plain, (code, region, role, village, n) in chain(((True, r) for r in plain_active),
                                                             ((False, r) for r in count_by(conn, active))):
            plain_people += n if plain else 0
            per_agreement[code]["active"] += n
            by_region[region] += n
            by_role[role] += n
            if village:
                by_village[village] += n
        ch = facts.chains()
        active_people = conn.execute(select(func.count(func.distinct(ch.c.member_id))).where(facts.active(ch))
                                     ).scalar_one() + plain_people
        everything = facts.paid()
        paid = everything.where(everything.selected_columns.late == 1).subquery("late")
        for month, n in _grouped(conn, paid, lambda p: [func.substr(p.c.paid_on, 1, 7)]):
            monthly[month]["reinstated_months"] += n
        m = facts.table("members")
        died = conn.execute(select(func.count()).where(m.c.died_on <= facts.day)).scalar_one()
    sections = {
        "by_agreement": _section(
            ["agreement", "enrolled", "taken_over", "active", "lapsed_arrears", "lapsed_funding_ended"],
            [[code, c["enrolled"], c["taken_over"], c["active"], c["lapsed_arrears"], c["lapsed_funding_ended"]]
             for code, c in sorted(per_agreement.items())]),
        "by_region": _section(["region", "active"], [[k, v] for k, v in sorted(by_region.items())]),
        "by_role": _section(["role", "active"], [[k, v] for k, v in sorted(by_role.items())]),
        "by_village": _section(["village", "active"], [[k, v] for k, v in sorted(by_village.items())]),
        "by_month": _section(
            ["month", "enrolments", "lapses_arrears", "lapses_funding_ended", "reinstated_months"],
            [[k, c["enrolments"], c["lapses_arrears"], c["lapses_funding_ended"], c["reinstated_months"]]
             for k, c in sorted(monthly.items())]),
        "active_by_month": active_by_month(facts, on, first_enrolled, one_payer),
    }
    enrolled = sum(c["enrolments"] for c in monthly.values())
    return sections, {"active_members": int(active_people), "enrolled_chains": enrolled, "died": int(died)}


PLAIN_DAYS_KEY = ("agreement_code", "enrolled_on", "lapsed_on", "lapse_reason", "died_on")
PLAIN_ACTIVE_KEY = ("agreement_code", "region_code", "role", "village_code")


def plain_chain_days(conn: Connection, facts: Facts) -> list[tuple[Any, ...]]:
    """The plain chains (``projections.chain_counts``) enrolled by ``on`` (in scope) as :func:`_chain_days` gives
    the others': a plain chain has one payer, so the agreement of its lapse is the one it was enrolled under, and
    it never changed payer. Rows are bounded by the calendar, as there."""
    out = []
    for agreement, enrolled_on, lapsed_on, reason, died_on, n in plain_chain_rows(
            conn, facts.table("chain_counts"), facts.day, facts.scope, PLAIN_DAYS_KEY):
        code = self_or_code(agreement)
        out.append((code, enrolled_on, code if lapsed_on else None, reason, lapsed_on, died_on, 0, n))
    return out


def plain_chains_active(conn: Connection, facts: Facts) -> Iterator[tuple[Any, ...]]:
    """``(agreement, region, role, village, chains)`` of the plain chains active on ``on`` (in scope), streamed:
    as many rows as the report has villages."""
    for agreement, region, role, village, n in plain_chain_rows(conn, facts.table("chain_counts"), facts.day,
                                                                facts.scope, PLAIN_ACTIVE_KEY, active_only=True):
        yield self_or_code(agreement), region, role, village, n


def _grouped(conn: Connection, source: Any, keys: Any) -> list[tuple[Any, ...]]:
    """``(*keys, count)`` of ``source`` grouped by ``keys(source)``."""
    return count_by(conn, select(*(k.label(f"k{i}") for i, k in enumerate(keys(source)))).subquery("keyed"))


def _chain_days(conn: Connection, facts: Facts) -> list[tuple[Any, ...]]:
    """``(agreement, enrolled_on, lapse agreement, reason, lapsed_on, died_on, changed, chains)``: the chains
    enrolled by ``on`` grouped by the days that decide the members report's months — the agreement (or SELF)
    each was enrolled under; for a lapse effective by ``on`` the agreement paying the chain's last covered period
    (the one before the period of the lapse) as decided by ``on`` (None without a lapse); whether its payer
    changed by ``on``. Rows are bounded by the calendar (days of enrolment, lapse and death), not the store."""
    ch = facts.chains()
    last = last_covered_index(ch.c.lapsed_on, ch.c.anchor_day)
    lapse_code = case((ch.c.lapsed_on.is_not(None), facts.segment_at(ch, lambda fp: period_index(fp) <= last)))
    inner = select(facts.first_code(ch).label("code"), ch.c.enrolled_on, lapse_code.label("lapse_code"),
                   ch.c.lapse_reason, ch.c.lapsed_on, ch.c.died_on,
                   case((ch.c.changed, 1), else_=0).label("changed")).subquery("chain_days")
    return count_by(conn, inner)


def _take_overs(conn: Connection, facts: Facts) -> list[tuple[Any, ...]]:
    """``(agreement, segments)``: every payer change of a chain, decided by ``on``, counted for the new payer."""
    ch, seg = facts.chains(), facts.segments()
    inner = (select(self_or(seg.c.agreement_code).label("code"))
             .select_from(seg.join(ch, and_(ch.c.member_id == seg.c.member_id, ch.c.spell_no == seg.c.spell_no)))
             .where(seg.c.from_period > ch.c.first_from).subquery("take_overs"))
    return count_by(conn, inner)


def coverage_report(facts: Facts, on: date) -> tuple[dict[str, Any], dict[str, Any]]:
    """UCJ per region: active participants (by person; a region counts its sub-regions' members) ÷ the
    workforce in force on ``on`` (the latest figure effective by then)."""
    day = on.isoformat()
    workforce: dict[str, int] = {}
    for w in facts.workforce:
        if w["effective_on"] <= day:
            workforce[w["region_code"]] = w["workforce"]
    rows = []
    with facts.engine.connect() as conn:
        for code, people in sorted(workforce.items()):
            ch = facts.chains()
            within = (ch.c.region_code == code) | (func.substr(ch.c.region_code, 1, len(code) + 1) == code + ".")
            covered = int(conn.execute(select(func.count(func.distinct(ch.c.member_id)))
                                       .where(facts.active(ch), within)).scalar_one())
            rows.append([code, covered, people, f"{covered * 100 / people:.2f}"])
    sections = {"by_region": _section(["region", "active_participants", "workforce", "ucj_pct"], rows)}
    return sections, {"regions": len(rows), "active_participants": sum(r[1] for r in rows)}

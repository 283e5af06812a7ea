"""The ``balances`` report: per agreement (and SELF) × period, members expected, expected, paid, outstanding and
refunds due; per payer and fund source; per programme fund.

The paid side is aggregated in the database per paid run (``members`` times the run's amounts), never per
member-month (:meth:`projections.facts.Facts.paid_groups`, refunds from :meth:`~projections.facts.Facts.paid_refunded`).
The expected side is the one rule of ``ledger.billing.expected_spell`` over every chain, so it runs here, once per
distinct chain shape: the plain chains' shapes come counted from ``projections.chain_counts`` (for the whole
ledger; one agreement's report lists its members, so it reads them all), the other chains are streamed from the
database one member at a time (ordered by member). Memory holds at most :data:`SIGNATURES_MAX` shapes and the
report's cells, never the store's rows.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import date
from functools import lru_cache
from itertools import groupby
from typing import Any

from sqlalchemy import and_, case, func, select

from ledger.billing import expected_spell, monthly_rate_rp
from ledger.coverage import Segment, Spell
from ledger.journal import PROGRAMME_OF_COMPONENT
from ledger.values import PayerType, Period, Programme, period_range
from projections.chain_counts import plain_chain_rows
from projections.facts import SELF, Facts, self_or

CLAIM_PROGRAMME = {"JKM_DEATH": "JKM", "SCHOLARSHIP": "JKM"}
STREAM_ROWS = 2000
"""Rows fetched at a time when streaming chains (a server-side cursor on PostgreSQL)."""
_SPELL = ("member_id", "spell_no", "enrolled_on", "first_period", "anchor_day", "role", "declared_income_rp",
          "programmes", "lapsed_on", "lapse_reason", "died_on")
_SEGMENT = ("from_period", "agreement_code", "payer_id", "payer_type", "fund_source")


def _section(columns: list[str], rows: list[list[Any]]) -> dict[str, Any]:
    return {"columns": columns, "rows": rows}


def _tariff(spell: dict[str, Any], period: Period, payer_type: str) -> int:
    return _rate(spell["programmes"], spell["declared_income_rp"], payer_type, spell["role"], spell["anchor_day"],
                 period)


@lru_cache(maxsize=65_536)
def _rate(programmes: str | None, declared_income_rp: int | None, payer_type: str, role: str, anchor_day: int,
          period: Period) -> int:
    """One member-month's tariff (``ledger.billing.monthly_rate_rp``, a pure function of these): the same few
    inputs recur for most members, so it is computed once per distinct inputs."""
    rates = monthly_rate_rp(period, [Programme(p) for p in (programmes or "JKK,JKM").split(",")],
                            declared_income_rp or 1_000_000, PayerType(payer_type), role, anchor_day)
    return sum(rates.values())


def _chain(spell: dict[str, Any]) -> Spell:
    segments = [Segment.model_construct(from_period=s["from_period"], agreement_code=s["agreement_code"],
                                        payer_id=s["payer_id"], payer_type=PayerType(s["payer_type"]),
                                        fund_source=s["fund_source"])
                for s in spell["segments"]]
    return Spell.model_construct(
        enrolled_on=date.fromisoformat(spell["enrolled_on"]), anchor_day=spell["anchor_day"],
        first_period=spell["first_period"], segments=segments,
        lapsed_on=date.fromisoformat(spell["lapsed_on"]) if spell["lapsed_on"] else None,
        lapse_reason=spell["lapse_reason"])


ChainRows = tuple[tuple[Any, ...], ...]
"""One member's chains as the database gives them, without the member id: a row per (chain, segment), ordered."""
SIGNATURES_MAX = 50_000
"""Distinct chain shapes held at a time (members are counted per shape, the rule runs once per shape)."""


def members_chain_rows(facts: Facts) -> Iterator[tuple[str, ChainRows]]:
    """``(member_id, rows)`` of every member with a chain enrolled by ``on`` (in scope), one member at a time;
    each row a chain's columns (:data:`_SPELL` without the member id) and one of its segments decided by ``on``
    (:data:`_SEGMENT`), ordered by chain and ``from_period``."""
    ch, seg = facts.chains(), facts.segments()
    query = (select(*(ch.c[k] for k in _SPELL), *(seg.c[k] for k in _SEGMENT))
             .select_from(ch.join(seg, and_(seg.c.member_id == ch.c.member_id, seg.c.spell_no == ch.c.spell_no)))
             .order_by(ch.c.member_id, ch.c.spell_no, seg.c.from_period))
    with facts.engine.connect() as conn:
        result = conn.execution_options(yield_per=STREAM_ROWS).execute(query)
        for member_id, rows in groupby(result, key=lambda r: r[0]):
            yield member_id, tuple(tuple(r)[1:] for r in rows)


def _chains_of(rows: ChainRows) -> list[dict[str, Any]]:
    """A member's chains as dicts, each with its ``segments``."""
    n = len(_SPELL) - 1
    chains = []
    for _, chain_rows in groupby(rows, key=lambda r: r[0]):
        segs = list(chain_rows)
        chain = dict(zip(_SPELL[1:], segs[0][:n], strict=True))
        chain["segments"] = [dict(zip(_SEGMENT, s[n:], strict=True)) for s in segs]
        chains.append(chain)
    return chains


def member_expected_months(facts: Facts, on: date, rows: ChainRows) -> list[tuple[str, str, int]]:
    """``(agreement or SELF, period, tariff)`` of every month a member with these chains is expected to be paid
    for by ``on``: the one rule of ``ledger.billing.expected_spell``. A pure function of the chains (never of
    the member id), so members with equal chains share one answer."""
    found_months: list[tuple[str, str, int]] = []
    rows_of_chain = _chains_of(rows)
    chains = [_chain(row) for row in rows_of_chain]
    row_of = {id(chain): row for chain, row in zip(chains, rows_of_chain, strict=True)}
    died_text = rows_of_chain[0]["died_on"]
    died = date.fromisoformat(died_text) if died_text else None
    for chain in chains:
        codes = {seg.agreement_code for seg in chain.segments}
        for code in codes:
            if code is not None and code not in facts.agreements:
                continue
            first, last = Period.parse(chain.first_period), Period.containing(on, chain.anchor_day)
            if code is not None:
                window = facts.agreements[code]
                first = max(first, Period.parse(window["first_period"]))
                last = min(last, Period.parse(window["last_period"]))
            for period in period_range(first, last):
                found = expected_spell(chains, died, code, period)
                if found is not chain:
                    continue
                tariff = _tariff(row_of[id(found)], period, found.segment_for(period).payer_type)
                found_months.append((code or SELF, str(period), tariff))
    return found_months


def expected_cells(facts: Facts, on: date) -> tuple[dict[tuple[str, str], list[int]], dict[str, set[str]]]:
    """Members expected per (agreement or SELF, period) and their cost, for every period begun by ``on``
    (:func:`member_expected_months`, over the chains as they stood on ``on``); with a scope, also the periods
    each member is expected for (``by_member``). Members are counted per distinct chain shape, at most
    :data:`SIGNATURES_MAX` shapes held at a time, so the rule runs once per shape, not per member."""
    expected: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    member_expected: dict[str, set[str]] = defaultdict(set)
    members_of: Counter[ChainRows] = Counter()
    months_of: dict[ChainRows, list[tuple[str, str, int]]] = {}

    def add_shapes() -> None:
        for rows, count in members_of.items():
            months = months_of.get(rows)
            for code, period, tariff in member_expected_months(facts, on, rows) if months is None else months:
                cell = expected[(code, period)]
                cell[0] += count
                cell[1] += count * tariff
        members_of.clear()
        months_of.clear()

    chains_of = facts
    if facts.scope is None:  # the plain chains by shape from their counts, the entangled members' from the registers
        for rows, count in plain_chain_shapes(facts):
            members_of[rows] += count
            if len(members_of) >= SIGNATURES_MAX:
                add_shapes()
        chains_of = facts.entangled()
    for member_id, rows in members_chain_rows(chains_of):
        if facts.scope is not None:  # one agreement: every member's own months too
            months = months_of.get(rows)
            if months is None:
                months = months_of[rows] = member_expected_months(facts, on, rows)
            if months:
                member_expected[member_id].update(period for _, period, _ in months)
        members_of[rows] += 1
        if len(members_of) >= SIGNATURES_MAX:
            add_shapes()
    add_shapes()
    return expected, member_expected


_SHAPE = ("enrolled_on", "first_period", "anchor_day", "role", "declared_income_rp", "programmes", "lapsed_on",
          "lapse_reason", "died_on", "agreement_code", "payer_id", "payer_type", "fund_source")


def plain_chain_shapes(facts: Facts) -> Iterator[tuple[ChainRows, int]]:
    """The plain chains enrolled by ``on`` (``projections.chain_counts``: one chain, one payer), as the
    :data:`ChainRows` :func:`members_chain_rows` would give each of their members (its first chain, one segment
    from its first period, lapse and death as known on ``on``), with how many members have each."""
    with facts.engine.connect() as conn:
        for (enrolled_on, first_period, anchor_day, role, income, programmes, lapsed_on, reason, died_on, code,
             payer_id, payer_type, fund_source, count) in plain_chain_rows(conn, facts.table("chain_counts"),
                                                                            facts.day, None, _SHAPE):
            row = (1, enrolled_on, first_period, anchor_day, role, income, programmes, lapsed_on, reason, died_on,
                   first_period, code, payer_id, payer_type, fund_source)
            yield (row,), count


def _keys(p: Any) -> list[Any]:
    """A paid row's cell: agreement (or SELF), period, payer and fund source ((SELF, SELF) for self-payers)."""
    agreed = func.nullif(p.c.agreement_code, "").is_not(None)
    return [self_or(p.c.agreement_code).label("code"), p.c.period,
            case((agreed, p.c.payer_id), else_=SELF).label("payer"),
            case((agreed, p.c.fund_source), else_=SELF).label("fund")]


def _paid_sums(facts: Facts) -> tuple[dict[tuple[str, str], list[int]], dict[tuple[str, str], list[int]],
                                      Counter[str], Counter[str]]:
    """The payments by ``on``, summed in the database per run (``members`` times each run's amounts), refunds
    from the refunded member-periods: per (agreement or SELF, period) [paid, refunds due, members]; per (payer,
    fund source) — (SELF, SELF) for self-payers — [paid, refunds due]; per programme paid in and refunds due."""
    g = facts.paid_groups().subquery("g")
    f = facts.paid_refunded().subquery("f")
    g_keys, f_keys = _keys(g), _keys(f)
    amounts = ("amount_rp", "jkk_rp", "jkm_rp", "jht_rp")
    paid: dict[tuple[str, str], list[int]] = {}
    by_payer: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    programme_in: Counter[str] = Counter()
    programme_refund: Counter[str] = Counter()
    with facts.engine.connect() as conn:
        grouped = select(*g_keys, func.sum(g.c.members), *(func.sum(g.c.members * g.c[a]) for a in amounts))
        for row in conn.execute(grouped.group_by(*g_keys)).all():
            code, period, payer, fund, members, amount, jkk, jkm, jht = tuple(row)
            cell = paid.setdefault((code, period), [0, 0, 0])
            cell[0] += int(amount)
            cell[2] += int(members)
            by_payer[(payer, fund)][0] += int(amount)
            programme_in.update({"JKK": int(jkk), "JKM": int(jkm), "JHT": int(jht)})
        refunded = select(*f_keys, *(func.sum(f.c[a]) for a in amounts)).group_by(*f_keys)
        for row in conn.execute(refunded).all():
            code, period, payer, fund, amount, jkk, jkm, jht = tuple(row)
            paid.setdefault((code, period), [0, 0, 0])[1] += int(amount)
            by_payer[(payer, fund)][1] += int(amount)
            programme_refund.update({"JKK": int(jkk), "JKM": int(jkm), "JHT": int(jht)})
    return paid, by_payer, programme_in, programme_refund


def balances_report(facts: Facts, on: date) -> tuple[dict[str, Any], dict[str, Any]]:
    """Per agreement (and SELF) × period: members expected, expected, paid, outstanding, refunds due; per payer
    and fund source; per programme fund: contributions in, claims paid out, refunds due."""
    expected, member_expected = expected_cells(facts, on)
    paid, by_payer, programme_in, programme_refund = _paid_sums(facts)
    programme_out: Counter[str] = Counter()
    for c in facts.claims:
        if c["status"] == "PAID":
            for component, amount in json.loads(c["components"]).items():
                programme = PROGRAMME_OF_COMPONENT.get(component, CLAIM_PROGRAMME.get(c["claim_type"], "JKK"))
                programme_out[programme] += amount
    rows = []
    totals = Counter({"expected_rp": 0, "paid_rp": 0, "refunds_due_rp": 0})
    for cell_key in sorted(set(expected) | set(paid)):
        members, expected_rp = expected.get(cell_key, [0, 0])
        paid_rp, refund_rp, paid_members = paid.get(cell_key, [0, 0, 0])
        rows.append([*cell_key, members, expected_rp, paid_members, paid_rp, expected_rp - paid_rp, refund_rp])
        totals["expected_rp"] += expected_rp
        totals["paid_rp"] += paid_rp
        totals["refunds_due_rp"] += refund_rp
    sections = {
        "by_agreement_period": _section(
            ["agreement", "period", "members_expected", "expected_rp", "members_paid", "paid_rp", "outstanding_rp",
             "refunds_due_rp"], rows),
        "by_payer": _section(["payer", "fund_source", "paid_rp", "refunds_due_rp"],
                             [[k[0], k[1], v[0], v[1]] for k, v in sorted(by_payer.items())]),
        "by_programme": _section(
            ["programme", "contributions_in_rp", "claims_paid_out_rp", "refunds_due_rp"],
            [[prog, programme_in[prog], programme_out[prog], programme_refund[prog]]
             for prog in ("JKK", "JKM", "JHT")]),
    }
    if facts.scope is not None:  # one agreement: per member too (the whole ledger would be millions of rows)
        sections["by_member"] = _by_member(facts, member_expected)
    return sections, {**totals, "outstanding_rp": totals["expected_rp"] - totals["paid_rp"]}


def _by_member(facts: Facts, member_expected: dict[str, set[str]]) -> dict[str, Any]:
    """One agreement's members: the last period paid, months paid, months expected but unpaid."""
    p = facts.paid().subquery("p")
    paid_periods: dict[str, set[str]] = defaultdict(set)
    with facts.engine.connect() as conn:
        for member_id, period in conn.execute(select(p.c.member_id, p.c.period)):
            paid_periods[member_id].add(period)
    rows_m = []
    for member_id in sorted(set(member_expected) | set(paid_periods)):
        have = paid_periods.get(member_id, set())
        rows_m.append([member_id, max(have) if have else None, len(have),
                       len(member_expected.get(member_id, set()) - have)])
    return _section(["member_id", "paid_through", "months_paid", "months_in_arrears"], rows_m)

"""The members an agreement is expected to be paid for, period by period, and what they cost: the one rule of
``ledger.billing.expected_spell`` over the chains of every member the agreement ever funded, as the registers hold
them (with ``on``, as they stood that day). What billing (``commands.money``) and the reconciliation report
(``projections.money_views``) compare the money with.

The plain members (``projections.chain_counts``: one chain, one payer: almost all) come counted per chain shape,
so the rule runs once per shape; the entangled ones are read from the registers member by member. Invariant: the
figures are those of the member-by-member path (``one_by_one``, the tests' reference).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from sqlalchemy import select

from ledger.billing import expected_spell, monthly_rate_rp
from ledger.coverage import Segment, Spell
from ledger.values import PayerType, Period, Programme
from projections.chain_counts import plain_chain_rows

if TYPE_CHECKING:
    from projections.money_views import MoneyViews

TariffInputs = dict[int, tuple[tuple[Programme, ...], int, str]]


@dataclass(frozen=True, slots=True)
class Chains:
    """Every member ever funded by one agreement: their membership chains, death, and each chain's tariff
    inputs (programmes and declared income, by ``id`` of the chain)."""

    members: list[tuple[list[Spell], date | None]]
    tariff_inputs: dict[int, tuple[tuple[Programme, ...], int, str]]
    weights: list[int]
    """How many members each entry of ``members`` stands for: 1, or the members of one plain chain shape
    (``projections.chain_counts``)."""


def funded_member_ids(views: MoneyViews, code: str) -> list[str]:
    """Every member (aggregate id as text) any chain of which ``code`` funded or funds, in order."""
    seg_t = views.registers.table("segments")
    with views.engine.connect() as conn:
        return sorted({r[0] for r in conn.execute(select(seg_t.c.member_id).where(seg_t.c.agreement_code == code))})


def member_chains(views: MoneyViews, code: str, on: date | None = None, one_by_one: bool = False) -> Chains:
    """The chains of every member ever funded by ``code``; with ``on``, as they stood that day (chains enrolled,
    payer changes decided, lapses and deaths effective by then: the rule of ``projections.reports.Facts``). The
    plain members come one entry per chain shape (:func:`plain_shapes`), the entangled ones one entry each;
    ``one_by_one``: every member an entry of its own (the tests' reference)."""
    day = on.isoformat() if on is not None else None

    def by(value: str | None) -> str | None:
        return value if value is not None and (day is None or value <= day) else None

    seg_t, entangled_t = views.registers.table("segments"), views.registers.table("entangled_members")
    shapes: list[tuple[list[Spell], date | None]] = []
    shape_inputs: TariffInputs = {}
    shape_weights: list[int] = []
    if one_by_one:
        ids = funded_member_ids(views, code)
    else:
        with views.engine.connect() as conn:
            ids = sorted({r[0] for r in conn.execute(select(seg_t.c.member_id).where(
                seg_t.c.agreement_code == code, seg_t.c.member_id.in_(select(entangled_t.c.member_id))))})
        shapes, shape_inputs, shape_weights = plain_shapes(views, code, day)
    spells_t, members_t = views.registers.table("spells"), views.registers.table("members")
    segments: dict[tuple[str, int], list[Segment]] = defaultdict(list)
    spells: dict[str, list[Spell]] = defaultdict(list)
    inputs: dict[int, tuple[tuple[Programme, ...], int, str]] = {}
    died: dict[str, date | None] = {}
    for i in range(0, len(ids), 500):
        chunk = ids[i : i + 500]
        for s in sorted(views.rows(views.registers, "segments", seg_t.c.member_id.in_(chunk)),
                        key=lambda s: (s["member_id"], s["spell_no"], s["from_period"], s["changed_on"])):
            if by(s["changed_on"]) is None:
                continue
            segments[(s["member_id"], s["spell_no"])].append(Segment(
                from_period=s["from_period"], agreement_code=s["agreement_code"], payer_id=s["payer_id"],
                payer_type=s["payer_type"], fund_source=s["fund_source"]))
        for s in sorted(views.rows(views.registers, "spells", spells_t.c.member_id.in_(chunk)),
                        key=lambda s: (s["member_id"], s["spell_no"])):
            if by(s["enrolled_on"]) is None:
                continue
            lapsed = by(s["lapsed_on"])
            spell = Spell(
                enrolled_on=date.fromisoformat(s["enrolled_on"]), anchor_day=s["anchor_day"],
                first_period=s["first_period"], segments=segments[(s["member_id"], s["spell_no"])],
                lapsed_on=date.fromisoformat(lapsed) if lapsed else None,
                lapse_reason=s["lapse_reason"] if lapsed else None)
            spells[s["member_id"]].append(spell)
            inputs[id(spell)] = (tuple(Programme(p) for p in s["programmes"].split(",")), s["declared_income_rp"],
                                 s["role"])
        for m in views.rows(views.registers, "members", members_t.c.member_id.in_(chunk)):
            died_on = by(m["died_on"])
            died[m["member_id"]] = date.fromisoformat(died_on) if died_on else None
    members = [(spells[m], died.get(m)) for m in ids if spells[m]]
    return Chains([*members, *shapes], {**inputs, **shape_inputs}, [*(1 for _ in members), *shape_weights])


_PLAIN_SHAPE = ("enrolled_on", "first_period", "anchor_day", "lapsed_on", "lapse_reason", "died_on", "programmes",
                "declared_income_rp", "role", "payer_id", "payer_type", "fund_source")
EVERY_DAY = "9999-12-31"


def plain_shapes(views: MoneyViews, code: str, day: str | None
                 ) -> tuple[list[tuple[list[Spell], date | None]], dict[int, tuple[tuple[Programme, ...], int, str]],
                            list[int]]:
    """The plain chains ``code`` funds (``projections.chain_counts``: one chain, one payer), one per shape, as
    :func:`member_chains` builds a member's (enrolled by ``day``, lapse and death as known then), their tariff
    inputs, and how many members have each shape."""
    members: list[tuple[list[Spell], date | None]] = []
    inputs: dict[int, tuple[tuple[Programme, ...], int, str]] = {}
    weights: list[int] = []
    with views.engine.connect() as conn:
        for (enrolled_on, first_period, anchor_day, lapsed_on, reason, died_on, programmes, income, role, payer_id,
             payer_type, fund_source, n) in plain_chain_rows(conn, views.registers.table("chain_counts"),
                                                             day or EVERY_DAY, code, _PLAIN_SHAPE):
            spell = Spell(enrolled_on=date.fromisoformat(enrolled_on), anchor_day=anchor_day, first_period=first_period,
                          segments=[Segment(from_period=first_period, agreement_code=code, payer_id=payer_id,
                                            payer_type=payer_type, fund_source=fund_source)],
                          lapsed_on=date.fromisoformat(lapsed_on) if lapsed_on else None, lapse_reason=reason)
            members.append(([spell], date.fromisoformat(died_on) if died_on else None))
            inputs[id(spell)] = (tuple(Programme(p) for p in programmes.split(",")), income, role)
            weights.append(n)
    return members, inputs, weights


@dataclass(frozen=True, slots=True)
class Expected:
    """Members expected in one period and what they cost, per programme (each at its own tariff)."""

    members: int
    per_programme_rp: dict[Programme, int]

    @property
    def amount_rp(self) -> int:
        return sum(self.per_programme_rp.values())


def expected_by_period(views: MoneyViews, code: str, periods: Iterable[Period], on: date | None = None,
                       one_by_one: bool = False) -> dict[str, Expected]:
    """Members expected under ``code`` in each period (``ledger.billing.expected_spell``) and their cost at
    the tariff in force, with each chain's programmes, declared income and role; with ``on``, from the chains
    as they stood that day."""
    agreement = views.agreement(code)
    payer_type = PayerType(agreement["payer_type"])
    chains = member_chains(views, code, on, one_by_one)
    out = {}
    for p in periods:
        members = 0
        amounts: dict[Programme, int] = defaultdict(int)
        rates: dict[tuple[tuple[Programme, ...], int, str], dict[Programme, int]] = {}
        for (spells, died), weight in zip(chains.members, chains.weights, strict=True):
            spell = expected_spell(spells, died, code, p)
            if spell is None:
                continue
            members += weight
            key = chains.tariff_inputs[id(spell)]
            rate = rates.get(key)
            if rate is None:
                rate = rates[key] = monthly_rate_rp(p, key[0], key[1], payer_type, key[2])
            for programme, value in rate.items():
                amounts[programme] += value * weight
        out[str(p)] = Expected(members, dict(sorted(amounts.items())))
    return out

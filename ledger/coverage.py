"""Coverage in time as pure functions of a member's state (docs/rules.md#anchor-days,
docs/rules.md#arrears-and-lapse, docs/rules.md#funding-ended, docs/rules.md#held-claims).

One place decides: whether a day is covered, which months are in arrears, when a membership lapses,
which periods may still be paid. The member aggregate, the sweep, the bulk payment path and the
claims rules all call these, so they can never disagree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from pydantic import BaseModel

from ledger.tariff import coverage_rules_in_force
from ledger.values import FundSource, LapseReason, PayerType, Period, Programme


class Segment(BaseModel):
    """Who pays from ``from_period`` on, inside one membership chain."""

    from_period: str
    agreement_code: str | None
    payer_id: str
    payer_type: PayerType
    fund_source: FundSource


class Spell(BaseModel):
    """One membership chain: from enrolment to lapse (or death). A re-join starts a new spell."""

    enrolled_on: date
    command_id: str = ""
    anchor_day: int
    first_period: str
    segments: list[Segment]
    lapsed_on: date | None = None
    lapse_reason: LapseReason | None = None

    @property
    def is_open(self) -> bool:
        return self.lapsed_on is None

    def segment_for(self, period: Period) -> Segment:
        chosen = self.segments[0]
        for seg in self.segments:
            if Period.parse(seg.from_period) <= period:
                chosen = seg
        return chosen

    @property
    def current_segment(self) -> Segment:
        return self.segments[-1]


class PaidPeriod(BaseModel):
    payer_id: str
    agreement_code: str | None
    payment_reference: str
    amount_rp: int
    per_programme_rp: dict[Programme, int]
    paid_on: date
    refund_due: bool = False


@dataclass(frozen=True, slots=True)
class AgreementWindow:
    """What coverage needs to know of an agreement: its window of periods."""

    code: str
    first_period: Period
    last_period: Period


@dataclass(frozen=True, slots=True)
class LapseDue:
    reason: LapseReason
    effective_on: date
    last_covered_period: Period | None
    agreement_code: str | None


def last_paid_in_spell(spell: Spell, paid: Mapping[str, PaidPeriod]) -> Period | None:
    """The latest paid period of the chain (``YYYY-MM`` strings sort like the months they name)."""
    first = spell.first_period
    best = max((key for key in paid if key >= first), default=None)
    return Period.parse(best) if best is not None else None


def lapse_due(
    spell: Spell,
    paid: Mapping[str, PaidPeriod],
    on: date,
    windows: Mapping[str, AgreementWindow],
) -> LapseDue | None:
    """The lapse that is due by ``on`` for an open spell, or None.

    ARREARS: when the (arrears_months_max + 1)-th consecutive unpaid period after the last paid one
    starts. FUNDING_ENDED: when the first period after the agreement's window starts and no other payer
    took over. If both are due, the earlier wins (FUNDING_ENDED on a tie).
    """
    if not spell.is_open:
        return None
    rules = coverage_rules_in_force(on)
    anchor = spell.anchor_day
    now = Period.containing(on, anchor)
    last_paid = last_paid_in_spell(spell, paid)
    base = last_paid if last_paid is not None else Period.parse(spell.first_period) - 1
    candidates: list[LapseDue] = []
    arrears_start = base + (rules.arrears_months_max + 1)
    if now >= arrears_start:
        candidates.append(
            LapseDue(LapseReason.ARREARS, arrears_start.start(anchor), last_paid, spell.current_segment.agreement_code)
        )
    seg = spell.current_segment
    if seg.agreement_code is not None:
        window = windows.get(seg.agreement_code)
        assert window is not None, f"agreement {seg.agreement_code} not loaded"
        after = window.last_period + 1
        if now >= after:
            covered = last_paid if last_paid is None or last_paid <= window.last_period else window.last_period
            candidates.append(LapseDue(LapseReason.FUNDING_ENDED, after.start(anchor), covered, seg.agreement_code))
    if not candidates:
        return None
    candidates.sort(key=lambda c: (c.effective_on, c.reason is not LapseReason.FUNDING_ENDED))
    due = candidates[0]
    assert due.effective_on <= on
    return due


def spell_on(spells: list[Spell], day: date) -> Spell | None:
    """The spell whose membership includes ``day`` (enrolled on or before it, not lapsed by it)."""
    for spell in reversed(spells):
        if spell.enrolled_on <= day and (spell.lapsed_on is None or day < spell.lapsed_on):
            return spell
    return None


def is_covered(spells: list[Spell], paid: Mapping[str, PaidPeriod], day: date, died_on: date | None) -> bool:
    """Covered on ``day``: inside a membership chain, before any death, and that period paid."""
    if died_on is not None and day > died_on:
        return False
    spell = spell_on(spells, day)
    if spell is None:
        return False
    return str(Period.containing(day, spell.anchor_day)) in paid


def unpaid_in_window(
    spells: list[Spell], paid: Mapping[str, PaidPeriod], day: date, on: date
) -> list[Period] | None:
    """If ``day`` falls in an unpaid month that may still be paid late (as of ``on``), that month.

    None when ``day`` is covered, outside any chain, or its month can no longer be paid.
    """
    spell = spell_on(spells, day)
    if spell is None:
        return None
    period = Period.containing(day, spell.anchor_day)
    if str(period) in paid:
        return None
    if period < Period.parse(spell.first_period):
        return None
    rules = coverage_rules_in_force(on)
    if period < Period.containing(on, spell.anchor_day) - rules.arrears_months_max:
        return None
    return [period]


def contribution_months(paid: Mapping[str, PaidPeriod], programme: Programme) -> int:
    """Months with a contribution to ``programme`` (the scholarship tenure condition counts these)."""
    return sum(1 for p in paid.values() if programme in p.per_programme_rp and not p.refund_due)

"""Billing rules: who is expected to be funded in a period, billing blocks by cadence, and the budget ceiling
check (docs/rules.md#expected, docs/rules.md#billing-blocks, docs/rules.md#budget-thresholds). One place decides
these, for the billing command and for the reports.

- **Expected** (iuran yang seharusnya dibayar): a member is expected under an agreement in a period when a
  membership chain of theirs has started by then, that chain's payer segment for the period is the
  agreement, the chain had not lapsed before the period began, and the period is not after the month of
  death. Expected amount = those member-months × the tariff in force for the agreement's programmes.
- **Billing blocks**: monthly, semester (6) or annual (12) months counted from the window's first period,
  clipped to the window; an invoice covers exactly one block, so a period is billed once.
- **Budget** (pagu APBD) is a ceiling: the window's expected cost above the warning share of it warns, above
  the budget flags the agreement ``OVER_BUDGET``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from ledger.coverage import Spell
from ledger.tariff import tariff_in_force
from ledger.values import BillingCadence, BudgetStatus, PayerType, Period, Programme, in_force


@dataclass(frozen=True, slots=True)
class BudgetRules:
    """Budget ceiling thresholds, in force from ``valid_from``."""

    valid_from: date
    warning_share_pct: int
    basis: str
    four_eyes_change_pct: int = 10
    """An amendment moving the ceiling by more than this share of the ceiling in force needs a second budget
    owner's confirmation (docs/rules.md#four-eyes)."""


BUDGET_RULES: tuple[BudgetRules, ...] = (
    BudgetRules(date(2015, 1, 1), 80, "[choice] finance warns at 80 % of the APBD ceiling (pagu); an amendment "
                "moving it by more than 10 % needs a second budget owner (four eyes)", 10),
)


def needs_second_owner(budget_rp: int, new_budget_rp: int, day: date) -> bool:
    """Whether moving the ceiling from ``budget_rp`` to ``new_budget_rp`` on ``day`` needs four eyes."""
    return abs(new_budget_rp - budget_rp) * 100 > budget_rp * budget_rules_in_force(day).four_eyes_change_pct

BLOCK_MONTHS: dict[BillingCadence, int] = {
    BillingCadence.MONTHLY: 1,
    BillingCadence.SEMESTER: 6,
    BillingCadence.ANNUAL: 12,
}


def budget_rules_in_force(day: date) -> BudgetRules:
    return in_force(BUDGET_RULES, day, "budget rules")


def budget_status(budget_rp: int, projected_cost_rp: int, day: date) -> BudgetStatus:
    """The window's expected cost against the budget ceiling."""
    assert budget_rp >= 0 and projected_cost_rp >= 0
    if projected_cost_rp > budget_rp:
        return BudgetStatus.OVER_BUDGET
    if projected_cost_rp * 100 >= budget_rp * budget_rules_in_force(day).warning_share_pct:
        return BudgetStatus.WARNING
    return BudgetStatus.WITHIN


def is_expected(spells: Sequence[Spell], died_on: date | None, agreement_code: str | None, period: Period) -> bool:
    """Is the member expected to be funded by ``agreement_code`` in ``period`` (see the module's rule)."""
    return expected_spell(spells, died_on, agreement_code, period) is not None


def expected_spell(spells: Sequence[Spell], died_on: date | None, agreement_code: str | None, period: Period
                   ) -> Spell | None:
    """The membership chain that makes the member expected in ``period`` (its tariff applies), if any;
    ``agreement_code`` None asks for the member's own (self-paid) contributions."""
    for spell in spells:
        if Period.parse(spell.first_period) > period:
            continue
        if spell.lapsed_on is not None and Period.containing(spell.lapsed_on, spell.anchor_day) <= period:
            continue
        if spell.segment_for(period).agreement_code != agreement_code:
            continue
        if died_on is not None and period > Period.containing(died_on, spell.anchor_day):
            continue
        return spell
    return None


def billing_block(first: Period, last: Period, cadence: BillingCadence, period: Period) -> list[Period]:
    """The periods of the invoice that covers ``period`` (blocks counted from the window's start)."""
    assert first <= period <= last, f"{period} outside {first}..{last}"
    size = BLOCK_MONTHS[cadence]
    start = first + (first.months_until(period) // size) * size
    out: list[Period] = []
    p = start
    while p <= last and len(out) < size:
        out.append(p)
        p = p + 1
    return out


def monthly_rate_rp(
    period: Period, programmes: Iterable[Programme], declared_income_rp: int, payer_type: PayerType,
    role: str = "", anchor_day: int = 1,
) -> dict[Programme, int]:
    """The tariff in force at ``period``'s start for one member-month, per programme (the same figures a payment
    of that member-month must carry: see ``ledger.member.decide_payment``)."""
    return tariff_in_force(period.start(anchor_day)).monthly_rp(set(programmes), declared_income_rp, payer_type,
                                                                 role)


def invoice_ref_for(agreement_code: str, first: Period) -> str:
    """Invoice number printed for the payer: one per agreement and billing block."""
    return f"INV-{agreement_code}-{first}"

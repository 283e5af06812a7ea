"""The UCJ planning table: per region, the coverage reported for the region across all of BPJS Ketenagakerjaan
(the baseline) and the coverage target its government set (docs/rules.md#ucj-targets).

The ledger counts only its own participants (the schemes it holds); the figures here are the region's coverage
as reported, with the date they stand for and where they were reported. The table is versioned by the day a
figure became known: a new report or a new target gets a new version of :data:`UCJ_TARGETS`, and a plan made on
an earlier day keeps the figures known then. Nothing else in the code base writes these percentages.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from types import MappingProxyType

from ledger.tariff import tariff_in_force
from ledger.values import PayerType, Programme, in_force

PCT_MAX = Decimal(100)
PLAN_PROGRAMMES = frozenset({Programme.JKK, Programme.JKM})
"""[choice] What a plan buys for each person: the BPU package every seed scheme buys, JKK + JKM at the minimum
declared income."""
PLAN_PAYER_TYPE = PayerType.APBD_KOTA
"""[choice] Who pays a plan: the region's budget. A state budget never gets the PP 50/2025 relief, so the rate is
the same for a city, a regency or a province."""


@dataclass(frozen=True, slots=True)
class RegionUcj:
    """A region's reported coverage and its target.

    Invariants: 0 ≤ ``baseline_pct`` ≤ 100 and 0 < ``target_low_pct`` ≤ ``target_high_pct`` ≤ 100 (percent of
    the region's workforce, by person); the baseline stands for ``baseline_on``, the target is for ``target_by``.
    """

    name: str
    baseline_pct: Decimal
    baseline_on: date
    baseline_source: str
    target_low_pct: Decimal
    target_high_pct: Decimal
    target_by: date
    target_source: str

    def __post_init__(self) -> None:
        assert 0 <= self.baseline_pct <= PCT_MAX, "a baseline is a percentage"
        assert 0 < self.target_low_pct <= self.target_high_pct <= PCT_MAX, "a target is a percentage range"

    @property
    def targets_pct(self) -> tuple[Decimal, ...]:
        """The ends of the target range (one when the target is a single figure)."""
        if self.target_low_pct == self.target_high_pct:
            return (self.target_low_pct,)
        return (self.target_low_pct, self.target_high_pct)


@dataclass(frozen=True, slots=True)
class UcjTargetTable:
    """The regions' baselines and targets known from ``valid_from``, region code → figures."""

    valid_from: date
    legal_basis: str
    regions: Mapping[str, RegionUcj]


_SINGKAWANG = RegionUcj(
    name="Kota Singkawang",
    baseline_pct=Decimal("27"),
    baseline_on=date(2025, 12, 15),
    baseline_source="news report of the launch of the vulnerable and palm-oil workers programme (about 27 %) [seed]",
    target_low_pct=Decimal("40"),
    target_high_pct=Decimal("50"),
    target_by=date(2026, 12, 31),
    target_source="the same report (40 to 50 %) [seed], by the end of 2026 [choice]",
)

_PONTIANAK = RegionUcj(
    name="Kota Pontianak",
    baseline_pct=Decimal("40.37"),
    baseline_on=date(2025, 12, 31),
    baseline_source="news report of the MoU of 11 Feb 2026 (UCJ 40.37 % in 2025) [seed]",
    target_low_pct=Decimal("45"),
    target_high_pct=Decimal("45"),
    target_by=date(2026, 12, 31),
    target_source="the same report (45 % in 2026) [seed]",
)

UCJ_TARGETS: tuple[UcjTargetTable, ...] = (
    UcjTargetTable(
        valid_from=date(2025, 12, 15),
        legal_basis="the Singkawang programme launch, 15 Dec 2025 [seed]",
        regions=MappingProxyType({"61.72": _SINGKAWANG}),
    ),
    UcjTargetTable(
        valid_from=date(2026, 2, 11),
        legal_basis="the Pontianak MoU with BPJS Ketenagakerjaan, 11 Feb 2026 [seed]",
        regions=MappingProxyType({"61.71": _PONTIANAK, "61.72": _SINGKAWANG}),
    ),
)


def ucj_targets_on(day: date) -> Mapping[str, RegionUcj]:
    """The baselines and targets known on ``day``, by region code (none before the first was reported)."""
    if day < UCJ_TARGETS[0].valid_from:
        return MappingProxyType({})
    return in_force(UCJ_TARGETS, day, "UCJ target table").regions


def plan_rate_rp(day: date) -> int:
    """What one person of a plan costs per month on ``day``: :data:`PLAN_PROGRAMMES` at the minimum declared
    income for a :data:`PLAN_PAYER_TYPE` payer, at the contribution tariff in force (docs/rules.md#ucj-targets)."""
    tariff = tariff_in_force(day)
    return sum(tariff.monthly_rp(PLAN_PROGRAMMES, tariff.income_min_rp, PLAN_PAYER_TYPE).values())

"""UCJ planning (docs/rules.md#ucj-targets): how many more people a region must cover to reach a coverage target,
and what covering them costs at the contribution tariff in force.

The ledger's coverage report counts the ledger's own participants; a region's coverage across all of BPJS
Ketenagakerjaan is the reported baseline of ``ledger.ucj_targets``. [choice] The plan counts people so:

- covered now = max(the ledger's active persons, ⌊baseline % × workforce⌋) (the larger of what the ledger knows
  and what was reported; without a baseline, the ledger's own count);
- persons needed for a target T = max(0, ⌈T % × workforce⌉ − covered now);
- budget needed = persons needed × the rate per member-month (``ledger.ucj_targets.plan_rate_rp``) × months.

:func:`plan` is the rule (pure); :func:`region_coverage` reads the coverage report's ``by_region`` section.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, InvalidOperation
from typing import Any

from ledger.errors import InvalidInput

TARGET_MIN_PCT = Decimal(1)
TARGET_MAX_PCT = Decimal(100)
TARGET_PLACES_MAX = 2
"""A target is written like the reported figures: at most two decimals (40,37 %)."""
MONTHS_MIN = 1
MONTHS_MAX = 60
"""[choice] A plan runs 1 to 60 months (five budget years at most)."""


@dataclass(frozen=True, slots=True)
class RegionCoverage:
    """One region of the coverage report: its recorded workforce (> 0) and the ledger's active persons in it."""

    region_code: str
    workforce: int
    active_persons: int

    @property
    def ucj_pct(self) -> Decimal:
        """The ledger's own UCJ: active persons ÷ workforce, in percent (exact)."""
        return Decimal(self.active_persons) * 100 / Decimal(self.workforce)


@dataclass(frozen=True, slots=True)
class UcjPlan:
    """What reaching ``target_pct`` in a region takes over ``months`` months.

    Invariants: ``covered_persons`` = max(``active_persons``, ``baseline_persons`` or 0); ``persons_needed`` =
    max(0, ``target_persons`` − ``covered_persons``); ``budget_needed_rp`` = ``persons_needed`` × ``rate_rp`` ×
    ``months`` (whole rupiah).
    """

    region_code: str
    target_pct: Decimal
    months: int
    workforce: int
    active_persons: int
    baseline_pct: Decimal | None
    baseline_persons: int | None
    covered_persons: int
    target_persons: int
    persons_needed: int
    rate_rp: int
    budget_needed_rp: int

    @property
    def reached(self) -> bool:
        return self.persons_needed == 0


def _share(pct: Decimal, workforce: int, rounding: str) -> int:
    return int((pct * workforce / 100).to_integral_value(rounding=rounding))


def check_target_pct(target_pct: Decimal) -> Decimal:
    """``target_pct`` if it is a percentage a plan may aim at (1 to 100, at most two decimals), else refused."""
    if not target_pct.is_finite() or not TARGET_MIN_PCT <= target_pct <= TARGET_MAX_PCT:
        raise InvalidInput("target", f"must be a percentage from {TARGET_MIN_PCT} to {TARGET_MAX_PCT}, "
                                     f"got {target_pct}")
    if -int(target_pct.normalize().as_tuple().exponent) > TARGET_PLACES_MAX:
        raise InvalidInput("target", f"at most {TARGET_PLACES_MAX} decimals, got {target_pct}")
    return target_pct


def check_months(months: int) -> int:
    if isinstance(months, bool) or not isinstance(months, int) or not MONTHS_MIN <= months <= MONTHS_MAX:
        raise InvalidInput("months", f"must be a whole number of months from {MONTHS_MIN} to {MONTHS_MAX}, "
                                     f"got {months!r}")
    return months


def parse_target_pct(text: str) -> Decimal:
    """A target as typed (``40``, ``42.5``, ``42,5``), checked by :func:`check_target_pct`."""
    try:
        value = Decimal(text.strip().replace(",", ".", 1))
    except InvalidOperation:
        raise InvalidInput("target", f"must be a number (a percentage), got {text[:20]!r}") from None
    return check_target_pct(value)


def parse_months(text: str) -> int:
    """Months as typed (digits only), checked by :func:`check_months`."""
    stripped = text.strip()
    if not stripped.isascii() or not stripped.isdigit() or len(stripped) > 3:
        raise InvalidInput("months", f"must be a whole number of months from {MONTHS_MIN} to {MONTHS_MAX}, "
                                     f"got {text[:20]!r}")
    return check_months(int(stripped))


def plan(coverage: RegionCoverage, target_pct: Decimal, months: int, rate_rp: int,
         baseline_pct: Decimal | None = None) -> UcjPlan:
    """The rule: persons and budget needed to reach ``target_pct`` of ``coverage``'s workforce (module docstring)."""
    check_target_pct(target_pct)
    check_months(months)
    if coverage.workforce <= 0:
        raise InvalidInput("workforce", f"region {coverage.region_code} has no recorded workforce")
    if rate_rp <= 0:
        raise InvalidInput("rate_rp", f"must be a positive rupiah amount, got {rate_rp}")
    baseline = None if baseline_pct is None else _share(baseline_pct, coverage.workforce, ROUND_FLOOR)
    covered = max(coverage.active_persons, baseline or 0)
    target = _share(target_pct, coverage.workforce, ROUND_CEILING)
    needed = max(0, target - covered)
    return UcjPlan(region_code=coverage.region_code, target_pct=target_pct, months=months,
                   workforce=coverage.workforce, active_persons=coverage.active_persons, baseline_pct=baseline_pct,
                   baseline_persons=baseline, covered_persons=covered, target_persons=target, persons_needed=needed,
                   rate_rp=rate_rp, budget_needed_rp=needed * rate_rp * months)


def region_coverage(documents: Iterable[Mapping[str, Any]]) -> dict[str, RegionCoverage]:
    """The regions of one or more coverage reports (``jamsos report coverage``), by code.

    One report of the whole ledger gives each region's active persons as the report counts them (by person). A
    principal of a payer or region scope reads one report per agreement of its scope; their counts are added
    [choice]: a person counts once in each agreement whose chain they are in, so a member taken over from one of
    those agreements by another is counted twice (docs/rules.md#ucj-targets). The workforce is the region's latest
    recorded figure (the same in every report of one day).
    """
    out: dict[str, RegionCoverage] = {}
    for document in documents:
        section = document["sections"]["by_region"]
        at = {name: i for i, name in enumerate(section["columns"])}
        for row in section["rows"]:
            code = str(row[at["region"]])
            before = out[code].active_persons if code in out else 0
            out[code] = RegionCoverage(code, int(row[at["workforce"]]), before + int(row[at["active_participants"]]))
    return dict(sorted(out.items()))

"""The UCJ plan rule (docs/rules.md#ucj-targets), as pure functions: no store involved."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from ledger.errors import InvalidInput
from ledger.tariff import tariff_in_force
from ledger.ucj_targets import PLAN_PAYER_TYPE, PLAN_PROGRAMMES, UCJ_TARGETS, plan_rate_rp, ucj_targets_on
from ledger.values import Programme
from projections.ucj_plan import (
    RegionCoverage,
    parse_months,
    parse_target_pct,
    plan,
    region_coverage,
)

SKW = RegionCoverage("61.72", workforce=118_000, active_persons=15)


def test_the_baseline_counts_when_it_is_above_the_ledgers_own_persons() -> None:
    result = plan(SKW, Decimal(40), 10, 16_800, baseline_pct=Decimal(27))
    assert result.baseline_persons == 31_860  # 27 % of 118.000, rounded down
    assert result.covered_persons == 31_860
    assert result.target_persons == 47_200
    assert result.persons_needed == 47_200 - 31_860
    assert result.budget_needed_rp == (47_200 - 31_860) * 16_800 * 10


def test_the_ledgers_persons_count_when_they_are_above_the_baseline() -> None:
    big = RegionCoverage("61.72", workforce=1_000, active_persons=300)
    result = plan(big, Decimal(40), 12, 16_800, baseline_pct=Decimal(27))
    assert result.baseline_persons == 270 and result.covered_persons == 300
    assert result.persons_needed == 100 and result.budget_needed_rp == 100 * 16_800 * 12


def test_without_a_baseline_only_the_ledger_counts() -> None:
    result = plan(SKW, Decimal(1), 1, 16_800)
    assert result.baseline_persons is None and result.covered_persons == 15
    assert result.persons_needed == 1_180 - 15


def test_the_baseline_rounds_down_and_the_target_rounds_up() -> None:
    odd = RegionCoverage("61.71", workforce=352_001, active_persons=0)
    result = plan(odd, Decimal("45"), 1, 16_800, baseline_pct=Decimal("40.37"))
    assert result.baseline_persons == 142_102  # 142.102,80… down
    assert result.target_persons == 158_401  # 158.400,45 up
    assert result.persons_needed == 16_299


def test_a_target_already_reached_needs_nobody_and_no_money() -> None:
    result = plan(SKW, Decimal(20), 12, 16_800, baseline_pct=Decimal(27))
    assert result.reached and result.persons_needed == 0 and result.budget_needed_rp == 0


@pytest.mark.parametrize("target", ["0", "0.99", "100.01", "-5", "NaN", "Infinity", "40.125"])
def test_a_target_outside_1_to_100_or_too_precise_is_refused(target: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        plan(SKW, Decimal(target), 12, 16_800)
    assert refused.value.field == "target"


@pytest.mark.parametrize("months", [0, 61, -1, True])
def test_months_outside_1_to_60_are_refused(months: int) -> None:
    with pytest.raises(InvalidInput) as refused:
        plan(SKW, Decimal(40), months, 16_800)
    assert refused.value.field == "months"


def test_typed_targets_and_months() -> None:
    assert parse_target_pct("42,5") == Decimal("42.5") and parse_target_pct(" 40.37 ") == Decimal("40.37")
    assert parse_target_pct("1") == 1 and parse_target_pct("100") == 100
    assert parse_months("60") == 60 and parse_months(" 1 ") == 1
    for text in ("abc", "", "4O", "1e400000"):
        with pytest.raises(InvalidInput) as refused:
            parse_target_pct(text)
        assert refused.value.field == "target"
    for text in ("1.5", "abc", "", "٣", "-1", "0", "61", "1000"):
        with pytest.raises(InvalidInput) as refused:
            parse_months(text)
        assert refused.value.field == "months"


def test_the_plans_rate_is_the_tariff_in_force_for_the_schemes_package() -> None:
    for day in (date(2025, 6, 1), date(2026, 6, 1)):
        tariff = tariff_in_force(day)
        expected = sum(tariff.monthly_rp(PLAN_PROGRAMMES, tariff.income_min_rp, PLAN_PAYER_TYPE).values())
        assert plan_rate_rp(day) == expected == 16_800  # [seed] what every seed scheme pays, under both tariffs
    assert {Programme.JKK, Programme.JKM} == PLAN_PROGRAMMES and PLAN_PAYER_TYPE.is_government_budget


def test_the_targets_known_on_a_day_are_the_version_in_force() -> None:
    assert dict(ucj_targets_on(date(2025, 12, 14))) == {}
    first = ucj_targets_on(date(2025, 12, 15))
    assert set(first) == {"61.72"}
    skw = first["61.72"]
    assert (skw.baseline_pct, skw.target_low_pct, skw.target_high_pct) == (27, 40, 50)  # [seed]
    assert skw.targets_pct == (40, 50)
    later = ucj_targets_on(date(2026, 12, 1))
    assert set(later) == {"61.71", "61.72"} and later is UCJ_TARGETS[-1].regions
    pnk = later["61.71"]
    assert (pnk.baseline_pct, pnk.targets_pct, pnk.target_by.year) == (Decimal("40.37"), (45,), 2026)  # [seed]


def test_one_report_or_the_sum_of_reports_per_agreement() -> None:
    def doc(rows: list[list[object]]) -> dict[str, object]:
        return {"sections": {"by_region": {"columns": ["region", "active_participants", "workforce", "ucj_pct"],
                                           "rows": rows}}}

    a = doc([["61.71", 0, 352_000, "0.00"], ["61.72", 10, 118_000, "0.01"]])
    b = doc([["61.71", 0, 352_000, "0.00"], ["61.72", 5, 118_000, "0.00"]])
    assert region_coverage([a]) == {"61.71": RegionCoverage("61.71", 352_000, 0),
                                    "61.72": RegionCoverage("61.72", 118_000, 10)}
    assert region_coverage([a, b])["61.72"] == RegionCoverage("61.72", 118_000, 15)
    assert region_coverage([a])["61.72"].ucj_pct == Decimal(10) * 100 / 118_000

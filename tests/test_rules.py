"""Unit tests of the pure rules: tariff, benefits, periods, coverage — no store involved."""

from __future__ import annotations

from datetime import date

import pytest

from ledger.claim import ClaimFacts, compute_benefit
from ledger.coverage import AgreementWindow, Segment, Spell, lapse_due
from ledger.errors import InvalidInput, RuleViolation
from ledger.identity import validate_nik
from ledger.tariff import BENEFIT_TABLES, benefits_in_force, tariff_in_force
from ledger.values import ClaimType, FundSource, LapseReason, PayerType, Period, Programme, SchoolLevel

JKK_JKM = {Programme.JKK, Programme.JKM}


def test_minimum_contribution_is_16800_and_36800_with_jht() -> None:
    tariff = tariff_in_force(date(2025, 6, 1))
    assert sum(tariff.monthly_rp(JKK_JKM, 1_000_000, PayerType.APBD_KOTA).values()) == 16_800
    with_jht = tariff.monthly_rp(JKK_JKM | {Programme.JHT}, 1_000_000, PayerType.SELF)
    assert sum(with_jht.values()) == 36_800


def test_jkk_is_clamped_between_min_and_max() -> None:
    tariff = tariff_in_force(date(2025, 6, 1))
    assert tariff.monthly_rp(JKK_JKM, 50_000_000, PayerType.SELF)[Programme.JKK] == 207_000
    assert tariff.monthly_rp(JKK_JKM, 1_800_000, PayerType.SELF)[Programme.JKK] == 18_000
    with pytest.raises(RuleViolation) as info:
        tariff.monthly_rp(JKK_JKM, 999_999, PayerType.SELF)
    assert info.value.field == "declared_income_rp"
    with pytest.raises(RuleViolation):
        tariff.monthly_rp({Programme.JKM}, 1_000_000, PayerType.SELF)


def test_pp50_relief_applies_in_2026_to_listed_roles_but_never_to_state_budgets() -> None:
    tariff = tariff_in_force(date(2026, 3, 1))
    assert tariff.legal_basis == "PP 50/2025"
    relieved = tariff.monthly_rp(JKK_JKM, 1_000_000, PayerType.SELF, "OJOL_DRIVER")
    assert relieved == {Programme.JKK: 5_000, Programme.JKM: 3_400}
    assert sum(tariff.monthly_rp(JKK_JKM, 1_000_000, PayerType.APBD_KOTA, "OJOL_DRIVER").values()) == 16_800
    assert sum(tariff.monthly_rp(JKK_JKM, 1_000_000, PayerType.SELF, "PETANI").values()) == 16_800


def facts(ctype: ClaimType, income: int = 1_000_000, **extra: object) -> ClaimFacts:
    return ClaimFacts(claim_type=ctype, event_date=date(2025, 5, 1), declared_income_rp=income, **extra)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("claim", "jht", "expected"),
    [
        (facts(ClaimType.JKM_DEATH), 0, {"lump_sum": 20_000_000, "periodic": 12_000_000, "funeral": 10_000_000}),
        (facts(ClaimType.JKK_DEATH), 0, {"lump_sum": 48_000_000, "periodic": 12_000_000, "funeral": 10_000_000}),
        (facts(ClaimType.JKK_DEATH, 300_000 * 1), 0,
         {"lump_sum": 20_000_000, "periodic": 12_000_000, "funeral": 10_000_000}),
        (facts(ClaimType.JKK_DEATH, 1_800_000), 4_600_000,
         {"lump_sum": 86_400_000, "periodic": 12_000_000, "funeral": 10_000_000, "jht_balance": 4_600_000}),
        (facts(ClaimType.JKK_DISABILITY, 2_000_000), 0, {"lump_sum": 112_000_000, "periodic": 12_000_000}),
        (facts(ClaimType.JKK_STMB, 2_000_000, months_unable=15), 0,
         {"stmb_full": 24_000_000, "stmb_reduced": 3_000_000}),
        (facts(ClaimType.JKK_MEDICAL, medical_cost_rp=7_000_000, home_care_cost_rp=25_000_000), 0,
         {"medical": 7_000_000, "home_care": 20_000_000}),
        (facts(ClaimType.SCHOLARSHIP, school_levels=[SchoolLevel.SD, SchoolLevel.UNIVERSITY]), 0,
         {"scholarship": 13_500_000}),
    ],
)
def test_benefit_components(claim: ClaimFacts, jht: int, expected: dict[str, int]) -> None:
    assert compute_benefit(claim, benefits_in_force(claim.event_date), jht) == expected


def test_jkk_death_at_minimum_income_is_70_million_and_scholarship_ceiling_is_87_million() -> None:
    table = BENEFIT_TABLES[0]
    assert sum(compute_benefit(facts(ClaimType.JKK_DEATH), table, 0).values()) == 70_000_000
    assert table.scholarship_per_child_max_rp == 87_000_000
    assert table.periodic_rp == 24 * 500_000


@pytest.mark.parametrize(
    ("text", "ok"),
    [("2026-01", True), ("2026-12", True), ("2026-13", False), ("2026-00", False), ("1999-12", False),
     ("2026-1", False), (" 2026-02 ", True)],
)
def test_period_parse(text: str, ok: bool) -> None:
    if ok:
        assert str(Period.parse(text)) == text.strip()
    else:
        with pytest.raises(InvalidInput):
            Period.parse(text)


def test_anchor_days_clamp_to_month_end() -> None:
    assert Period(2026, 2).start(31) == date(2026, 2, 28)
    assert Period(2026, 1).end(31) == date(2026, 2, 27)
    assert Period.containing(date(2026, 3, 5), 31) == Period(2026, 2)
    assert Period.containing(date(2026, 3, 31), 31) == Period(2026, 3)


def test_nik_women_day_plus_forty_is_valid() -> None:
    assert validate_nik("6172015708850003") == "6172015708850003"  # born 17 Aug 1985, woman
    with pytest.raises(InvalidInput):
        validate_nik("9972010101850003")  # no province 99


def _spell(first: str = "2025-01", agreement: str | None = "A") -> Spell:
    seg = Segment(from_period=first, agreement_code=agreement, payer_id="P", payer_type=PayerType.APBD_KOTA,
                  fund_source=FundSource.APBD)
    return Spell(enrolled_on=date(2025, 1, 6), anchor_day=1, first_period=first, segments=[seg])


def test_lapse_due_prefers_the_earlier_reason() -> None:
    windows = {"A": AgreementWindow("A", Period(2025, 1), Period(2025, 3))}
    spell = _spell()
    # nothing paid: arrears lapse when the 4th unpaid month (April) starts; the window also ends in April
    due = lapse_due(spell, {}, date(2025, 4, 1), windows)
    assert due is not None and due.reason is LapseReason.FUNDING_ENDED and due.effective_on == date(2025, 4, 1)
    assert lapse_due(spell, {}, date(2025, 3, 31), windows) is None
    long_window = {"A": AgreementWindow("A", Period(2025, 1), Period(2025, 12))}
    due = lapse_due(spell, {}, date(2025, 4, 2), long_window)
    assert due is not None and due.reason is LapseReason.ARREARS and due.last_covered_period is None


def test_parse_command_names_the_field_for_messages_from_outside() -> None:
    from commands.messages import PayContribution, parse_command

    ok = parse_command("contribution.pay", {"nik": "6172015708850003", "periods": "2026-01..2026-03",
                                            "amount_rp": 50_400, "payment_reference": "SP2D-1"})
    assert isinstance(ok, PayContribution) and ok.periods == ["2026-01", "2026-02", "2026-03"]
    with pytest.raises(InvalidInput) as unknown:
        parse_command("contribution.steal", {})
    assert unknown.value.field == "kind"
    with pytest.raises(InvalidInput) as bad:
        parse_command("contribution.pay", {"nik": "6172015708850003", "periods": ["2026-01"], "amount_rp": "16.800",
                                           "payment_reference": "SP2D-1"})
    assert bad.value.field == "amount_rp"
    with pytest.raises(InvalidInput) as extra:
        parse_command("sweep", {"surprise": 1})
    assert extra.value.field == "surprise" and extra.value.reason == "unknown field"

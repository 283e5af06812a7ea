"""The versioned tariff, benefit and coverage tables: every number of the contribution, benefit and coverage
rules (docs/rules.md#contribution-tariffs, docs/rules.md#benefit-tables, docs/rules.md#coverage-rules).

Each table is a tuple of versions ordered by ``valid_from``; ``*_in_force(day)`` picks the version in
force on a business date. Nothing else in the code base writes these numbers as literals: a rule that
changes by regulation gets a new version here, with its legal basis, and old events keep their meaning.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from ledger.errors import RuleViolation
from ledger.values import PayerType, Programme, SchoolLevel, format_rp, in_force

BASIS_POINTS = 10_000


@dataclass(frozen=True, slots=True)
class ContributionTariff:
    """Monthly contribution (iuran) of a BPU member, per programme.

    Invariants: JKK is ``jkk_rate_bp`` of declared income clamped to [jkk_min_rp, jkk_max_rp];
    JKM is flat; JHT is ``jht_rate_bp`` of declared income. Amounts are whole rupiah, rounded down.
    """

    valid_from: date
    legal_basis: str
    income_min_rp: int = 1_000_000
    jkk_rate_bp: int = 100
    jkk_min_rp: int = 10_000
    jkk_max_rp: int = 207_000
    jkm_flat_rp: int = 6_800
    jht_rate_bp: int = 200
    relief_pct: int = 0
    """PP 50/2025: JKK+JKM reduced by this percentage for ``relief_roles``, never for state budgets."""
    relief_roles: frozenset[str] = field(default_factory=frozenset)

    def monthly_rp(
        self,
        programmes: frozenset[Programme] | set[Programme],
        declared_income_rp: int,
        payer_type: PayerType,
        role: str = "",
    ) -> dict[Programme, int]:
        """Contribution per programme for one member-month."""
        if declared_income_rp < self.income_min_rp:
            raise RuleViolation(
                "declared_income_rp", f"must be at least {format_rp(self.income_min_rp)} (tariff {self.legal_basis})"
            )
        if Programme.JKK not in programmes or Programme.JKM not in programmes:
            raise RuleViolation("programmes", "JKK and JKM are mandatory for BPU members")
        jkk = declared_income_rp * self.jkk_rate_bp // BASIS_POINTS
        jkk = max(self.jkk_min_rp, min(self.jkk_max_rp, jkk))
        jkm = self.jkm_flat_rp
        if self.relief_pct and role in self.relief_roles and not payer_type.is_government_budget:
            jkk = jkk * (100 - self.relief_pct) // 100
            jkm = jkm * (100 - self.relief_pct) // 100
        amounts = {Programme.JKK: jkk, Programme.JKM: jkm}
        if Programme.JHT in programmes:
            amounts[Programme.JHT] = declared_income_rp * self.jht_rate_bp // BASIS_POINTS
        return amounts


CONTRIBUTION_TARIFFS: tuple[ContributionTariff, ...] = (
    ContributionTariff(valid_from=date(2015, 7, 1), legal_basis="PP 44/2015 jo. PP 82/2019"),
    ContributionTariff(
        valid_from=date(2026, 1, 1),
        legal_basis="PP 50/2025",
        relief_pct=50,
        # [choice] The regulation names sectors; the demo and tests use this role list. State-budget
        # payers (APBD/APBN/APBDes) never get the relief, so every seed scheme stays at Rp16,800.
        relief_roles=frozenset({"OJOL_DRIVER", "COURIER"}),
    ),
)


@dataclass(frozen=True, slots=True)
class ScholarshipLevel:
    yearly_rp: int
    years_max: int


@dataclass(frozen=True, slots=True)
class BenefitTable:
    """Cash benefits (manfaat) of JKK and JKM. Invariant: every component is whole rupiah."""

    valid_from: date
    legal_basis: str
    jkm_lump_sum_rp: int = 20_000_000
    periodic_months: int = 24
    periodic_monthly_rp: int = 500_000
    funeral_rp: int = 10_000_000
    jkk_death_income_multiple: int = 48
    jkk_death_lump_min_rp: int = 20_000_000
    jkk_disability_income_multiple: int = 56
    jkk_disability_extra_rp: int = 12_000_000
    stmb_full_months: int = 12
    stmb_after_pct: int = 50
    home_care_max_rp: int = 20_000_000
    home_care_max_days: int = 365
    scholarship_children_max: int = 2
    scholarship_jkm_contribution_months_min: int = 36
    scholarship_age_max: int = 23
    scholarship_levels: dict[SchoolLevel, ScholarshipLevel] = field(
        default_factory=lambda: {
            SchoolLevel.TK: ScholarshipLevel(1_500_000, 2),
            SchoolLevel.SD: ScholarshipLevel(1_500_000, 6),
            SchoolLevel.SMP: ScholarshipLevel(2_000_000, 3),
            SchoolLevel.SMA: ScholarshipLevel(3_000_000, 3),
            SchoolLevel.UNIVERSITY: ScholarshipLevel(12_000_000, 5),
        }
    )
    jkk_claim_expiry_years: int = 5

    @property
    def periodic_rp(self) -> int:
        return self.periodic_months * self.periodic_monthly_rp

    @property
    def scholarship_per_child_max_rp(self) -> int:
        return sum(level.yearly_rp * level.years_max for level in self.scholarship_levels.values())


BENEFIT_TABLES: tuple[BenefitTable, ...] = (
    BenefitTable(valid_from=date(2019, 12, 2), legal_basis="PP 82/2019"),
)


@dataclass(frozen=True, slots=True)
class CoverageRules:
    """When a member is covered (docs/rules.md#coverage-rules).

    - ``arrears_months_max``: unpaid months that may still be paid late (reinstating them); when the
      next unpaid month starts the membership lapses (ARREARS).
    - ``agreement_anchor_day``: cohorts under a funding agreement run on calendar months [choice].
    - ``advance_months_max``: how many months one payment may cover, and how far ahead: a period at most this
      many months after the period of the payment's business day (12: on 28 Dec 2025, up to 2026-12).
    """

    valid_from: date
    legal_basis: str
    arrears_months_max: int = 3
    agreement_anchor_day: int = 1
    advance_months_max: int = 12
    hold_claims_in_arrears: bool = True


COVERAGE_RULES: tuple[CoverageRules, ...] = (
    CoverageRules(valid_from=date(2015, 7, 1), legal_basis="Permenaker 5/2021; BPJS BPU practice"),
)


def tariff_in_force(day: date) -> ContributionTariff:
    return in_force(CONTRIBUTION_TARIFFS, day, "contribution tariff")


def benefits_in_force(day: date) -> BenefitTable:
    return in_force(BENEFIT_TABLES, day, "benefit table")


def coverage_rules_in_force(day: date) -> CoverageRules:
    return in_force(COVERAGE_RULES, day, "coverage rules")

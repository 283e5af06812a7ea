"""Claims (klaim manfaat) and the benefit rules (docs/rules.md#benefit-tables).

Life: submitted → (held while the event month is unpaid inside the arrears window) → approved
(amount fixed from the benefit table in force on the event date, with its components) or rejected
(with a reason) → paid (with a payment reference). Corrections are new events, never edits.

Invariants: the claim reference is unique (the aggregate id derives from it); a decided claim is never
decided again; the approved amount equals the sum of its components.
"""

from __future__ import annotations

import uuid
from datetime import date

from pydantic import BaseModel

from ledger.aggregate import Aggregate, CommandContext
from ledger.coverage import contribution_months, is_covered, unpaid_in_window
from ledger.errors import AlreadyDone, InvalidInput, RuleViolation
from ledger.events import (
    ClaimApproved,
    ClaimHeld,
    ClaimPaid,
    ClaimRejected,
    ClaimReleased,
    ClaimSubmitted,
    LedgerEvent,
)
from ledger.identity import SealedPersonalData
from ledger.member import Member
from ledger.tariff import BenefitTable, benefits_in_force, coverage_rules_in_force
from ledger.values import (
    ClaimStatus,
    ClaimType,
    Period,
    Programme,
    SchoolLevel,
    require_code,
    require_not_before,
    require_rupiah,
)

NS_CLAIM = uuid.UUID("c1a1d5e2-7f0b-4c3a-9a8e-5b6d7e8f9012")
REASON_LEN_MAX = 500


def claim_id_for(claim_ref: str) -> uuid.UUID:
    return uuid.uuid5(NS_CLAIM, claim_ref)


class ClaimFacts(BaseModel):
    """The facts a benefit depends on, as submitted (no personal data in clear)."""

    claim_type: ClaimType
    event_date: date
    declared_income_rp: int
    months_unable: int = 0
    medical_cost_rp: int = 0
    home_care_cost_rp: int = 0
    home_care_days: int = 0
    school_levels: list[SchoolLevel] = []
    death_claim_ref: str | None = None


class ClaimState(BaseModel):
    claim_ref: str = ""
    member_id: uuid.UUID | None = None
    agreement_code: str | None = None
    facts: ClaimFacts | None = None
    status: ClaimStatus = ClaimStatus.SUBMITTED
    submitted_on: date | None = None
    unpaid_periods: list[str] = []
    amount_rp: int = 0
    components: dict[str, int] = {}
    reason_code: str | None = None
    reason: str | None = None
    paid_on: date | None = None
    payment_reference: str | None = None
    last_step_on: date | None = None
    """The business day of the claim's latest step: the next one cannot be dated before it."""
    submitted_by: str = ""
    """The principal who submitted it: it cannot approve it (four eyes, docs/rules.md#four-eyes)."""


def compute_benefit(facts: ClaimFacts, table: BenefitTable, jht_balance_rp: int) -> dict[str, int]:
    """The benefit components for the claim's facts under ``table`` (pure; docs/rules.md#benefit-tables)."""
    income = facts.declared_income_rp
    components: dict[str, int] = {}
    if facts.claim_type is ClaimType.JKM_DEATH:
        components["lump_sum"] = table.jkm_lump_sum_rp
        components["periodic"] = table.periodic_rp
        components["funeral"] = table.funeral_rp
    elif facts.claim_type is ClaimType.JKK_DEATH:
        components["lump_sum"] = max(table.jkk_death_income_multiple * income, table.jkk_death_lump_min_rp)
        components["periodic"] = table.periodic_rp
        components["funeral"] = table.funeral_rp
    elif facts.claim_type is ClaimType.JKK_DISABILITY:
        components["lump_sum"] = table.jkk_disability_income_multiple * income
        components["periodic"] = table.jkk_disability_extra_rp
    elif facts.claim_type is ClaimType.JKK_STMB:
        full = min(facts.months_unable, table.stmb_full_months)
        reduced = max(facts.months_unable - table.stmb_full_months, 0)
        components["stmb_full"] = full * income
        components["stmb_reduced"] = reduced * income * table.stmb_after_pct // 100
    elif facts.claim_type is ClaimType.JKK_MEDICAL:
        components["medical"] = facts.medical_cost_rp
        components["home_care"] = min(facts.home_care_cost_rp, table.home_care_max_rp)
    elif facts.claim_type is ClaimType.SCHOLARSHIP:
        components["scholarship"] = sum(table.scholarship_levels[lvl].yearly_rp for lvl in facts.school_levels)
    if facts.claim_type.is_death and jht_balance_rp > 0:
        components["jht_balance"] = jht_balance_rp
    return {k: v for k, v in components.items() if v > 0}


class Claim(Aggregate[ClaimState]):
    """A benefit claim for one member."""

    state_type = ClaimState

    @classmethod
    def submit(
        cls,
        ctx: CommandContext,
        *,
        claim_ref: str,
        member: Member,
        facts: ClaimFacts,
        on: date,
        sealed_details: SealedPersonalData | None,
        existing: Claim | None = None,
        death_claim: Claim | None = None,
        previous_death_claim: Claim | None = None,
    ) -> Claim:
        """Record the claim and, where the rules already decide it, hold or reject it at once.

        Also files it on the member (one death claim per member, unless the earlier one was rejected).
        Raises for malformed input; writes nothing then.
        """
        claim_ref = require_code(claim_ref, "claim_id")
        if existing is not None and existing.exists:
            raise AlreadyDone("claim_id", f"claim {claim_ref} already exists")
        if not member.exists:
            raise InvalidInput("member", "unknown member")
        if facts.event_date > on:
            raise InvalidInput("event_date", f"{facts.event_date} is in the future (today is {on})")
        table = benefits_in_force(facts.event_date)
        _check_facts(facts, table)
        if facts.claim_type is ClaimType.SCHOLARSHIP:
            if death_claim is None or not death_claim.exists:
                raise InvalidInput("death_claim_id", "a scholarship follows a death claim of the same member")
            if death_claim.state.member_id != member.id:
                raise InvalidInput("death_claim_id", "belongs to another member")
        previous_rejected = (
            previous_death_claim is not None and previous_death_claim.state.status is ClaimStatus.REJECTED
        )
        member.file_claim(ctx, claim_ref, facts.claim_type, facts.event_date, on, previous_rejected)
        spell_agreement = None
        for spell in member.state.spells:
            if spell.enrolled_on <= facts.event_date:
                spell_agreement = spell.segment_for(Period.containing(facts.event_date, spell.anchor_day))
        claim = cls(claim_id_for(claim_ref))
        claim._trigger(
            ctx,
            ClaimSubmitted,
            on,
            event_date=facts.event_date,
            claim_ref=claim_ref,
            member_id=member.id,
            claim_type=facts.claim_type,
            agreement_code=spell_agreement.agreement_code if spell_agreement else None,
            declared_income_rp=facts.declared_income_rp,
            months_unable=facts.months_unable,
            medical_cost_rp=facts.medical_cost_rp,
            home_care_cost_rp=facts.home_care_cost_rp,
            home_care_days=facts.home_care_days,
            school_levels=facts.school_levels,
            death_claim_ref=facts.death_claim_ref,
            sealed_details=sealed_details,
        )
        claim._screen(ctx, member, facts, table, on, death_claim)
        return claim

    def _screen(
        self, ctx: CommandContext, member: Member, facts: ClaimFacts, table: BenefitTable, on: date,
        death_claim: Claim | None,
    ) -> None:
        """Decide at once what the rules already decide: expired, not covered, held, tenure."""
        s = member.state
        if facts.claim_type is ClaimType.SCHOLARSHIP:
            assert death_claim is not None and death_claim.state.facts is not None
            cause = death_claim.state.facts.claim_type
            months = contribution_months(s.paid, Programme.JKM)
            if cause is ClaimType.JKM_DEATH and months < table.scholarship_jkm_contribution_months_min:
                needed = table.scholarship_jkm_contribution_months_min
                self._reject(ctx, on, "TENURE", f"JKM scholarship needs {needed} contribution months; "
                             f"the member has {months}")
            elif death_claim.state.status not in (ClaimStatus.APPROVED, ClaimStatus.PAID):
                self._reject(ctx, on, "DEATH_CLAIM_NOT_APPROVED", "the death claim it follows is not approved")
            return
        if facts.claim_type.programme is Programme.JKK:
            expiry = _add_years(facts.event_date, table.jkk_claim_expiry_years)
            if on > expiry:
                self._reject(ctx, on, "EXPIRED", f"JKK claims expire {table.jkk_claim_expiry_years} years after "
                             f"the event ({expiry})")
                return
        if is_covered(s.spells, s.paid, facts.event_date, None):
            return
        unpaid = unpaid_in_window(s.spells, s.paid, facts.event_date, on)
        if unpaid:
            self._trigger(ctx, ClaimHeld, on, unpaid_periods=[str(p) for p in unpaid])
            return
        self._reject(ctx, on, "NOT_COVERED", f"the member was not covered on {facts.event_date}")

    def release_if_paid(self, ctx: CommandContext, member: Member, on: date, payment_reference: str) -> bool:
        if self.state.status is not ClaimStatus.HELD:
            return False
        if not all(p in member.state.paid for p in self.state.unpaid_periods):
            return False
        # a payment dated before the claim (entered late) releases it from the day the claim was held
        on = max(on, self.state.last_step_on or on)
        self._trigger(ctx, ClaimReleased, on, payment_reference=payment_reference)
        return True

    def close_hold_if_unpayable(self, ctx: CommandContext, member: Member, on: date) -> bool:
        """Reject a held claim once its unpaid month can no longer be paid (lapse or window passed)."""
        if self.state.status is not ClaimStatus.HELD:
            return False
        spell = member.open_spell
        rules = coverage_rules_in_force(on)
        for text in self.state.unpaid_periods:
            if text in member.state.paid:
                continue
            period = Period.parse(text)
            if spell is None or period < Period.containing(on, spell.anchor_day) - rules.arrears_months_max:
                # a back-dated sweep (its lapse before the claim) rejects it from the day the claim was held, never
                # before: a decision is not effective before the claim it decides
                rejected_on = max(on, self.state.last_step_on or on)
                self._reject(ctx, rejected_on, "ARREARS_WINDOW_CLOSED",
                             f"the unpaid month {text} can no longer be paid")
                return True
        return False

    def approve(self, ctx: CommandContext, member: Member, on: date) -> ClaimApproved:
        """Fix the amount from the benefit table in force on the event date; an approved death claim
        closes the member (see :meth:`Member.record_death`), so save the member with the claim."""
        self._require_status("approve", ClaimStatus.SUBMITTED)
        if ctx.actor == self.state.submitted_by:
            raise RuleViolation("principal", f"four eyes (docs/rules.md#four-eyes): {ctx.actor} submitted claim "
                                             f"{self.state.claim_ref}; another claims officer must approve it")
        require_not_before(on, self.state.last_step_on, "the claim's previous step")
        facts = self.state.facts
        assert facts is not None
        table = benefits_in_force(facts.event_date)
        components = compute_benefit(facts, table, member.jht_balance_rp)
        amount = sum(components.values())
        if amount <= 0:
            raise RuleViolation("claim_id", "the facts give no benefit; reject the claim instead")
        if facts.claim_type.is_death:
            member.record_death(ctx, self.state.claim_ref, facts.event_date)
        return self._trigger(
            ctx,
            ClaimApproved,
            on,
            amount_rp=amount,
            components=components,
            benefit_basis=f"{table.legal_basis} (valid from {table.valid_from.isoformat()})",
        )

    def reject(self, ctx: CommandContext, on: date, reason_code: str, reason: str) -> None:
        self._require_status("reject", ClaimStatus.SUBMITTED, ClaimStatus.HELD)
        require_not_before(on, self.state.last_step_on, "the claim's previous step")
        code = require_code(reason_code.upper(), "reason_code", max_len=40)
        if not reason.strip() or len(reason) > REASON_LEN_MAX:
            raise InvalidInput("reason", f"must be 1..{REASON_LEN_MAX} characters")
        self._reject(ctx, on, code, reason.strip())

    def _reject(self, ctx: CommandContext, on: date, code: str, reason: str) -> None:
        self._trigger(ctx, ClaimRejected, on, reason_code=code, reason=reason)

    def pay(self, ctx: CommandContext, on: date, payment_reference: str) -> None:
        self._require_status("pay", ClaimStatus.APPROVED)
        require_not_before(on, self.state.last_step_on, "the claim's approval")
        self._trigger(ctx, ClaimPaid, on, amount_rp=self.state.amount_rp, payment_reference=payment_reference)

    def _require_status(self, verb: str, *allowed: ClaimStatus) -> None:
        if not self.exists:
            raise InvalidInput("claim_id", "unknown claim")
        if self.state.status not in allowed:
            raise RuleViolation(
                "claim_id", f"cannot {verb} claim {self.state.claim_ref}: it is {self.state.status.value}"
            )

    def apply(self, event: LedgerEvent) -> None:
        s = self.state
        s.last_step_on = max(s.last_step_on or event.effective_on, event.effective_on)
        if isinstance(event, ClaimSubmitted):
            s.claim_ref = event.claim_ref
            s.member_id = event.member_id
            s.agreement_code = event.agreement_code
            s.submitted_on = event.effective_on
            s.submitted_by = event.actor
            s.facts = ClaimFacts(
                claim_type=event.claim_type,
                event_date=event.event_date,
                declared_income_rp=event.declared_income_rp,
                months_unable=event.months_unable,
                medical_cost_rp=event.medical_cost_rp,
                home_care_cost_rp=event.home_care_cost_rp,
                home_care_days=event.home_care_days,
                school_levels=list(event.school_levels),
                death_claim_ref=event.death_claim_ref,
            )
            s.status = ClaimStatus.SUBMITTED
        elif isinstance(event, ClaimHeld):
            s.status = ClaimStatus.HELD
            s.unpaid_periods = list(event.unpaid_periods)
        elif isinstance(event, ClaimReleased):
            s.status = ClaimStatus.SUBMITTED
        elif isinstance(event, ClaimApproved):
            s.status = ClaimStatus.APPROVED
            s.amount_rp = event.amount_rp
            s.components = dict(event.components)
        elif isinstance(event, ClaimRejected):
            s.status = ClaimStatus.REJECTED
            s.reason_code = event.reason_code
            s.reason = event.reason
        elif isinstance(event, ClaimPaid):
            s.status = ClaimStatus.PAID
            s.paid_on = event.effective_on
            s.payment_reference = event.payment_reference
        else:  # pragma: no cover
            raise TypeError(f"Claim cannot apply {type(event).__name__}")


def _check_facts(facts: ClaimFacts, table: BenefitTable) -> None:
    require_rupiah(facts.declared_income_rp, "declared_income_rp")
    require_rupiah(facts.medical_cost_rp, "medical_cost_rp", allow_zero=True)
    require_rupiah(facts.home_care_cost_rp, "home_care_cost_rp", allow_zero=True)
    if facts.claim_type is ClaimType.JKK_STMB and not 1 <= facts.months_unable <= 120:
        raise InvalidInput("months_unable", "must be 1..120 for a temporary-inability claim")
    if facts.claim_type is ClaimType.JKK_MEDICAL:
        if facts.medical_cost_rp + facts.home_care_cost_rp <= 0:
            raise InvalidInput("medical_cost_rp", "a medical claim needs a cost")
        if facts.home_care_days > table.home_care_max_days:
            raise RuleViolation("home_care_days", f"home care is covered for at most {table.home_care_max_days} days")
    if facts.claim_type is ClaimType.SCHOLARSHIP:
        if not 1 <= len(facts.school_levels) <= table.scholarship_children_max:
            raise InvalidInput("school_levels", f"one level per child, 1..{table.scholarship_children_max} children")
        if not facts.death_claim_ref:
            raise InvalidInput("death_claim_id", "a scholarship follows a death claim of the same member")


def _add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)

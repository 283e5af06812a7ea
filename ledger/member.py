"""Member (peserta BPU): enrolment chains, contributions, lapses, death, refunds, erasure.

Invariants (checked before every event is triggered):
- At most one open membership chain (spell); a re-join starts a new one and the gap stays uncovered.
- A period is paid at most once per member; it lies inside an open chain, on or after its first
  period, inside the paying agreement's window, at most ``advance_months_max`` ahead and at most
  ``arrears_months_max`` behind the current period.
- The amount paid equals the tariff in force for every period, for this member's programmes.
- A death closes the member for good; later months already paid become refunds due to their payer.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from pydantic import BaseModel

from ledger.aggregate import Aggregate, CommandContext
from ledger.business_time import require_known_region
from ledger.coverage import (
    AgreementWindow,
    LapseDue,
    PaidPeriod,
    Segment,
    Spell,
    lapse_due,
    last_paid_in_spell,
)
from ledger.errors import AlreadyDone, InvalidInput, NotFound, RuleViolation
from ledger.events import (
    ClaimFiled,
    ContributionPaid,
    ContributionRefundDue,
    ContributionRefundSettled,
    CoverageLapsed,
    CoverageReinstated,
    JhtBalanceCarriedIn,
    LedgerEvent,
    MemberDied,
    MemberEnrolled,
    PayerChanged,
    PersonalDataErased,
)
from ledger.identity import SealedPersonalData
from ledger.roles import require_role
from ledger.tariff import coverage_rules_in_force, tariff_in_force
from ledger.values import (
    ClaimType,
    FundSource,
    PayerType,
    Period,
    Programme,
    format_rp,
    require_not_before,
    require_rupiah,
    require_village_code,
)


class MemberState(BaseModel):
    """Everything the rules decide on. Holds no personal data, not even sealed: the sealed fields stay
    in the ``MemberEnrolled`` event (see :func:`sealed_personal_data`), so members in the same situation
    have byte-identical state, which the bulk paths exploit."""

    region_code: str = ""
    village_code: str | None = None
    role: str = ""
    programmes: list[Programme] = []
    declared_income_rp: int = 0
    spells: list[Spell] = []
    paid: dict[str, PaidPeriod] = {}
    erased: bool = False
    died_on: date | None = None
    death_claim_ref: str | None = None
    claims: dict[str, ClaimType] = {}
    jht_carried_in_rp: int = 0
    refunds_due_rp: dict[str, int] = {}
    """``claim_ref|payer_id`` → refund owed to that payer after the death of ``claim_ref``."""
    refunds_settled: dict[str, str] = {}
    """``claim_ref|payer_id`` → the payment reference that paid the refund back."""


@dataclass(frozen=True, slots=True)
class EnrolmentPlan:
    """A checked enrolment, ready to record (see :meth:`Member.plan_enrolment`)."""

    on: date
    agreement_code: str | None
    payer_id: str
    payer_type: PayerType
    fund_source: FundSource
    region_code: str
    village_code: str | None
    role: str
    programmes: tuple[Programme, ...]
    declared_income_rp: int
    anchor_day: int
    first_period: str


class PaymentDecision(BaseModel):
    """What a payment would record: computed by :func:`decide_payment`, used by both write paths."""

    periods: list[str]
    per_period_rp: dict[Programme, int]
    amount_rp: int
    late_periods: list[str]
    segment: Segment


def decide_payment(
    state: MemberState,
    periods: list[Period],
    on: date,
    windows: Mapping[str, AgreementWindow],
    payer_id: str | None = None,
) -> PaymentDecision:
    """Validate paying ``periods`` on business date ``on``; return the amounts, or raise naming the field
    (docs/rules.md#payment-limits)."""
    if not state.spells:
        raise RuleViolation("member", "is not enrolled")
    if state.died_on is not None:
        raise RuleViolation("member", f"died on {state.died_on.isoformat()}; no further contributions")
    if not periods:
        raise InvalidInput("periods", "at least one period is required")
    rules = coverage_rules_in_force(on)
    if len(periods) > rules.advance_months_max:
        raise InvalidInput("periods", f"at most {rules.advance_months_max} periods in one payment")
    ordered = sorted(periods)
    for a, b in itertools.pairwise(ordered):
        if b.index - a.index != 1:
            raise InvalidInput("periods", f"must be consecutive months without repeats ({a} then {b})")
    spell = state.spells[-1]
    require_not_before(on, spell.enrolled_on, "the enrolment of this membership chain")
    if not spell.is_open:
        raise RuleViolation(
            "member", f"membership lapsed on {spell.lapsed_on} ({spell.lapse_reason}); enrol again to re-join"
        )
    due = lapse_due(spell, state.paid, on, windows)
    if due is not None:
        raise RuleViolation(
            "member", f"membership lapsed on {due.effective_on} ({due.reason.value}); enrol again to re-join"
        )
    anchor = spell.anchor_day
    now = Period.containing(on, anchor)
    first = Period.parse(spell.first_period)
    segment = spell.segment_for(ordered[0])
    tariff_rates: dict[Programme, int] | None = None
    late: list[str] = []
    for p in ordered:
        if p < first:
            raise RuleViolation("periods", f"{p} is before enrolment (first period {first})")
        if str(p) in state.paid:
            raise AlreadyDone(
                "periods", f"{p} already paid (reference {state.paid[str(p)].payment_reference})"
            )
        if p > now + rules.advance_months_max:
            raise RuleViolation(
                "periods", f"{p} is too far ahead: a payment on {on.isoformat()} (period {now}) may cover periods "
                f"up to {rules.advance_months_max} months after it, so at the latest {now + rules.advance_months_max}")
        if p < now - rules.arrears_months_max:
            raise RuleViolation(
                "periods", f"{p} is more than {rules.arrears_months_max} months in arrears and can no longer be paid"
            )
        seg = spell.segment_for(p)
        if seg != segment:
            raise InvalidInput("periods", f"{p} has another payer ({seg.payer_id}); pay it separately")
        if seg.agreement_code is not None:
            window = windows[seg.agreement_code]
            if not window.first_period <= p <= window.last_period:
                raise RuleViolation(
                    "periods",
                    f"{p} is outside agreement {seg.agreement_code} window "
                    f"{window.first_period}..{window.last_period}",
                )
        rates = tariff_in_force(p.start(anchor)).monthly_rp(
            set(state.programmes), state.declared_income_rp, seg.payer_type, state.role
        )
        if tariff_rates is None:
            tariff_rates = rates
        elif rates != tariff_rates:
            raise InvalidInput("periods", f"the tariff changes at {p}; pay the periods on each side separately")
        if p < now:
            late.append(str(p))
    if payer_id is not None and payer_id != segment.payer_id:
        raise RuleViolation("payer_id", f"{payer_id} does not fund this member (payer is {segment.payer_id})")
    assert tariff_rates is not None
    amount = sum(tariff_rates.values()) * len(ordered)
    return PaymentDecision(
        periods=[str(p) for p in ordered],
        per_period_rp=tariff_rates,
        amount_rp=amount,
        late_periods=late,
        segment=segment,
    )


class Member(Aggregate[MemberState]):
    """A person's participation, identified by a keyed hash of the NIK (see :mod:`ledger.identity`)."""

    state_type = MemberState

    # --- queries ---------------------------------------------------------------------------------

    @property
    def open_spell(self) -> Spell | None:
        if self.state.spells and self.state.spells[-1].is_open and self.state.died_on is None:
            return self.state.spells[-1]
        return None

    @property
    def first_enrolled_on(self) -> date | None:
        return self.state.spells[0].enrolled_on if self.state.spells else None

    @property
    def jht_balance_rp(self) -> int:
        paid_jht = sum(
            p.per_programme_rp.get(Programme.JHT, 0) for p in self.state.paid.values() if not p.refund_due
        )
        return self.state.jht_carried_in_rp + paid_jht

    def arrears_lapse_on(self) -> date | None:
        """The day an ARREARS lapse falls due if nothing more is paid (None when no chain is open).

        The sweep uses it as an index to find candidates; :meth:`lapse_due` stays the one decision.
        """
        spell = self.open_spell
        if spell is None:
            return None
        last = last_paid_in_spell(spell, self.state.paid)
        base = last if last is not None else Period.parse(spell.first_period) - 1
        rules = coverage_rules_in_force((base + 1).start(spell.anchor_day))
        return (base + (rules.arrears_months_max + 1)).start(spell.anchor_day)

    @property
    def cohort(self) -> str | None:
        """The agreement funding the open chain ("SELF" if self-paying); None when closed or dead."""
        spell = self.open_spell
        if spell is None:
            return None
        return spell.current_segment.agreement_code or "SELF"

    def lapse_due(self, on: date, windows: Mapping[str, AgreementWindow]) -> LapseDue | None:
        spell = self.open_spell
        return None if spell is None else lapse_due(spell, self.state.paid, on, windows)

    # --- commands --------------------------------------------------------------------------------

    def plan_enrolment(
        self,
        *,
        on: date,
        agreement: AgreementWindow | None,
        payer_id: str,
        payer_type: PayerType,
        fund_source: FundSource,
        region_code: str,
        village_code: str | None,
        role: str,
        programmes: list[Programme],
        declared_income_rp: int,
        windows: Mapping[str, AgreementWindow],
    ) -> EnrolmentPlan:
        """Check an enrolment against every rule and return what it would record; changes nothing.

        Under an agreement the chain runs on calendar months (anchor day 1); a self-payer's on the day of
        registration."""
        rules = coverage_rules_in_force(on)
        if self.state.died_on is not None:
            raise RuleViolation("nik", f"member died on {self.state.died_on.isoformat()}")
        spell = self.open_spell
        if spell is not None and self.lapse_due(on, windows) is None:
            code = spell.current_segment.agreement_code
            if agreement is not None and code == agreement.code:
                raise AlreadyDone("nik", f"already enrolled in agreement {code}")
            raise RuleViolation(
                "nik", f"already an active member (payer {spell.current_segment.payer_id}); use a payer change"
            )
        if spell is not None:
            raise RuleViolation("nik", "membership has a lapse due: run the sweep first")
        if self.state.spells:
            require_not_before(on, self.state.spells[-1].lapsed_on, "the end of the previous membership chain")
        region_code = require_known_region(region_code, on)
        if village_code is not None:
            village_code = require_village_code(village_code, region_code)
        role = require_role(role, on)
        require_rupiah(declared_income_rp, "declared_income_rp")
        anchor = rules.agreement_anchor_day if agreement is not None else on.day
        first = Period.containing(on, anchor)
        if agreement is not None:
            if first > agreement.last_period:
                raise RuleViolation(
                    "effective_on", f"{on} is after agreement {agreement.code} window ends ({agreement.last_period})"
                )
            first = max(first, agreement.first_period)
        # the tariff must accept these programmes and income before anything is recorded
        tariff_in_force(first.start(anchor)).monthly_rp(set(programmes), declared_income_rp, payer_type, role)
        return EnrolmentPlan(
            on=on,
            agreement_code=agreement.code if agreement is not None else None,
            payer_id=payer_id,
            payer_type=payer_type,
            fund_source=fund_source,
            region_code=region_code,
            village_code=village_code,
            role=role,
            programmes=tuple(sorted(set(programmes))),
            declared_income_rp=declared_income_rp,
            anchor_day=anchor,
            first_period=str(first),
        )

    def enrol(self, ctx: CommandContext, plan: EnrolmentPlan, personal: SealedPersonalData | None) -> MemberEnrolled:
        """Record a planned enrolment. Personal data is sealed once, on the first enrolment only."""
        if self.exists:
            personal = None
        return self._trigger(
            ctx,
            MemberEnrolled,
            plan.on,
            agreement_code=plan.agreement_code,
            payer_id=plan.payer_id,
            payer_type=plan.payer_type,
            fund_source=plan.fund_source,
            region_code=plan.region_code,
            village_code=plan.village_code,
            role=plan.role,
            programmes=list(plan.programmes),
            declared_income_rp=plan.declared_income_rp,
            anchor_day=plan.anchor_day,
            first_period=plan.first_period,
            personal=personal,
        )

    def pay(
        self,
        ctx: CommandContext,
        *,
        on: date,
        periods: list[Period],
        amount_rp: int,
        payment_reference: str,
        windows: Mapping[str, AgreementWindow],
        payer_id: str | None = None,
    ) -> PaymentDecision:
        require_rupiah(amount_rp, "amount_rp")
        decision = decide_payment(self.state, periods, on, windows, payer_id)
        if amount_rp != decision.amount_rp:
            per_month = sum(decision.per_period_rp.values())
            raise RuleViolation(
                "amount_rp",
                f"{format_rp(amount_rp)} does not match the tariff: {len(decision.periods)} x {format_rp(per_month)} "
                f"= {format_rp(decision.amount_rp)}",
            )
        self.record_payment(ctx, on, decision, payment_reference)
        return decision

    def record_payment(
        self, ctx: CommandContext, on: date, decision: PaymentDecision, payment_reference: str
    ) -> None:
        seg = decision.segment
        self._trigger(
            ctx,
            ContributionPaid,
            on,
            periods=decision.periods,
            amount_rp=decision.amount_rp,
            per_period_rp=decision.per_period_rp,
            payer_id=seg.payer_id,
            payer_type=seg.payer_type,
            fund_source=seg.fund_source,
            agreement_code=seg.agreement_code,
            payment_reference=payment_reference,
        )
        if decision.late_periods:
            self._trigger(
                ctx, CoverageReinstated, on, periods=decision.late_periods, payment_reference=payment_reference
            )

    def lapse(self, ctx: CommandContext, due: LapseDue) -> None:
        assert self.open_spell is not None
        self._trigger(
            ctx,
            CoverageLapsed,
            due.effective_on,
            reason=due.reason,
            last_covered_period=str(due.last_covered_period) if due.last_covered_period else None,
            agreement_code=due.agreement_code,
        )

    def change_payer(
        self,
        ctx: CommandContext,
        *,
        on: date,
        from_period: Period,
        agreement: AgreementWindow | None,
        payer_id: str,
        payer_type: PayerType,
        fund_source: FundSource,
        windows: Mapping[str, AgreementWindow],
    ) -> None:
        spell = self.open_spell
        if spell is None:
            raise RuleViolation("member", "has no open membership to change the payer of")
        require_not_before(on, spell.enrolled_on, "the enrolment of this membership chain")
        if self.lapse_due(on, windows) is not None:
            raise RuleViolation("member", "membership has a lapse due: run the sweep first")
        if from_period <= Period.parse(spell.current_segment.from_period):
            raise RuleViolation("from_period", f"must be after {spell.current_segment.from_period}, the first "
                                               "period of the current payer (a chain has one payer per period)")
        if any(Period.parse(k) >= from_period for k in self.state.paid):
            raise RuleViolation("from_period", f"periods from {from_period} on are already paid")
        if agreement is not None and not agreement.first_period <= from_period <= agreement.last_period:
            raise RuleViolation("from_period", f"{from_period} is outside agreement {agreement.code} window")
        self._trigger(
            ctx,
            PayerChanged,
            on,
            agreement_code=agreement.code if agreement else None,
            payer_id=payer_id,
            payer_type=payer_type,
            fund_source=fund_source,
            from_period=str(from_period),
        )

    def file_claim(
        self,
        ctx: CommandContext,
        claim_ref: str,
        claim_type: ClaimType,
        event_date: date,
        on: date,
        previous_death_claim_rejected: bool = False,
    ) -> None:
        """Record that a claim was filed. One death claim per member: another only if that one was rejected."""
        if claim_ref in self.state.claims:
            raise AlreadyDone("claim_id", f"claim {claim_ref} already filed")
        if claim_type.is_death and self.state.death_claim_ref is not None and not previous_death_claim_rejected:
            raise AlreadyDone(
                "claim_type",
                f"member already has a death claim ({self.state.death_claim_ref}); one per member, ever",
            )
        require_not_before(on, self.first_enrolled_on, "the member's first enrolment")
        if self.state.died_on is not None and event_date > self.state.died_on:
            raise RuleViolation("event_date", f"is after the member's death on {self.state.died_on}")
        self._trigger(ctx, ClaimFiled, on, claim_ref=claim_ref, claim_type=claim_type, event_date=event_date)

    def record_death(self, ctx: CommandContext, claim_ref: str, died_on: date) -> None:
        """A death claim was approved: close the member; months paid after the death month become refunds
        due to the payer that paid them (one event per payer and agreement)."""
        if self.state.died_on is not None:
            raise AlreadyDone("member", f"death already recorded on {self.state.died_on}")
        spell = self.state.spells[-1] if self.state.spells else None
        anchor = spell.anchor_day if spell else 1
        death_month = Period.containing(died_on, anchor)
        self._trigger(ctx, MemberDied, died_on, claim_ref=claim_ref)
        by_payer: dict[tuple[str, str | None], list[tuple[str, PaidPeriod]]] = {}
        for key, paid in sorted(self.state.paid.items()):
            if Period.parse(key) > death_month and not paid.refund_due:
                by_payer.setdefault((paid.payer_id, paid.agreement_code), []).append((key, paid))
        for (payer_id, agreement_code), items in sorted(by_payer.items(), key=lambda kv: kv[0][0]):
            self._trigger(
                ctx,
                ContributionRefundDue,
                died_on,
                periods=[k for k, _ in items],
                amount_rp=sum(p.amount_rp for _, p in items),
                payer_id=payer_id,
                agreement_code=agreement_code,
                payment_references=sorted({p.payment_reference for _, p in items}),
                claim_ref=claim_ref,
                per_programme_rp=_programme_totals(p.per_programme_rp for _, p in items),
            )

    def settle_refund(
        self, ctx: CommandContext, claim_ref: str, payer_id: str, amount_rp: int, payment_reference: str, on: date
    ) -> None:
        """The refund owed to ``payer_id`` after death claim ``claim_ref`` was paid back, in full."""
        key = f"{claim_ref}|{payer_id}"
        due = self.state.refunds_due_rp.get(key)
        if due is None:
            raise NotFound("claim_ref", f"no refund is due to {payer_id} for claim {claim_ref}")
        if key in self.state.refunds_settled:
            raise AlreadyDone("claim_ref", f"refund already settled by {self.state.refunds_settled[key]}")
        require_not_before(on, self.state.died_on, "the death that made the refund due")
        if amount_rp != due:
            raise RuleViolation("amount_rp", f"{format_rp(amount_rp)} differs from the {format_rp(due)} due; "
                                             "refunds are paid whole")
        agreement = next((p.agreement_code for p in self.state.paid.values()
                          if p.refund_due and p.payer_id == payer_id), None)
        self._trigger(ctx, ContributionRefundSettled, on, claim_ref=claim_ref, payer_id=payer_id,
                      agreement_code=agreement, amount_rp=amount_rp, payment_reference=payment_reference)

    def carry_in_jht(self, ctx: CommandContext, amount_rp: int, source: str, on: date) -> None:
        require_rupiah(amount_rp, "amount_rp")
        if not source.strip():
            raise InvalidInput("source", "must say where the balance comes from")
        require_not_before(on, self.first_enrolled_on, "the member's first enrolment")
        self._trigger(ctx, JhtBalanceCarriedIn, on, amount_rp=amount_rp, source=source.strip())

    def erase_personal_data(self, ctx: CommandContext, reason: str, on: date) -> None:
        if self.state.erased:
            raise AlreadyDone("nik", "personal data already erased")
        require_not_before(on, self.first_enrolled_on, "the member's first enrolment")
        self._trigger(ctx, PersonalDataErased, on, reason=reason)

    # --- evolution -------------------------------------------------------------------------------

    def apply(self, event: LedgerEvent) -> None:
        s = self.state
        if isinstance(event, MemberEnrolled):
            s.region_code = event.region_code
            s.village_code = event.village_code
            s.role = event.role
            s.programmes = list(event.programmes)
            s.declared_income_rp = event.declared_income_rp
            s.spells = [
                *s.spells,
                Spell(
                    enrolled_on=event.effective_on,
                    command_id=event.command_id,
                    anchor_day=event.anchor_day,
                    first_period=event.first_period,
                    segments=[
                        Segment(
                            from_period=event.first_period,
                            agreement_code=event.agreement_code,
                            payer_id=event.payer_id,
                            payer_type=event.payer_type,
                            fund_source=event.fund_source,
                        )
                    ],
                ),
            ]
        elif isinstance(event, ContributionPaid):
            per_month = sum(event.per_period_rp.values())
            paid = dict(s.paid)
            for p in event.periods:
                paid[p] = PaidPeriod(
                    payer_id=event.payer_id,
                    agreement_code=event.agreement_code,
                    payment_reference=event.payment_reference,
                    amount_rp=per_month,
                    per_programme_rp=dict(event.per_period_rp),
                    paid_on=event.effective_on,
                )
            s.paid = paid
        elif isinstance(event, CoverageLapsed):
            spell = s.spells[-1]
            spell.lapsed_on = event.effective_on
            spell.lapse_reason = event.reason
        elif isinstance(event, PayerChanged):
            s.spells[-1].segments.append(
                Segment(
                    from_period=event.from_period,
                    agreement_code=event.agreement_code,
                    payer_id=event.payer_id,
                    payer_type=event.payer_type,
                    fund_source=event.fund_source,
                )
            )
        elif isinstance(event, ClaimFiled):
            s.claims = {**s.claims, event.claim_ref: event.claim_type}
            if event.claim_type.is_death:
                s.death_claim_ref = event.claim_ref
        elif isinstance(event, MemberDied):
            s.died_on = event.effective_on
        elif isinstance(event, ContributionRefundDue):
            for p in event.periods:
                s.paid[p].refund_due = True
            key = f"{event.claim_ref}|{event.payer_id}"
            s.refunds_due_rp = {**s.refunds_due_rp, key: s.refunds_due_rp.get(key, 0) + event.amount_rp}
        elif isinstance(event, ContributionRefundSettled):
            s.refunds_settled = {**s.refunds_settled, f"{event.claim_ref}|{event.payer_id}": event.payment_reference}
        elif isinstance(event, JhtBalanceCarriedIn):
            s.jht_carried_in_rp += event.amount_rp
        elif isinstance(event, PersonalDataErased):
            s.erased = True
        elif isinstance(event, CoverageReinstated):
            pass  # the payment itself marked the months paid; this event records that they were late
        else:  # pragma: no cover - a new event type must be handled here
            raise TypeError(f"Member cannot apply {type(event).__name__}")


def _programme_totals(splits: Iterable[Mapping[Programme, int]]) -> dict[Programme, int]:
    out: dict[Programme, int] = {}
    for split in splits:
        for programme, amount_rp in split.items():
            out[programme] = out.get(programme, 0) + amount_rp
    return dict(sorted(out.items()))


def sealed_personal_data(events: list[LedgerEvent]) -> SealedPersonalData | None:
    """The member's sealed personal data, from the enrolment that carried it."""
    for event in events:
        if isinstance(event, MemberEnrolled) and event.personal is not None:
            return event.personal
    return None


def member_summary(member: Member) -> dict[str, Any]:
    """A plain, personal-data-free description of the member's state (for `member show`)."""
    s = member.state
    spells = []
    for spell in s.spells:
        last = last_paid_in_spell(spell, s.paid)
        spells.append(
            {
                "enrolled_on": spell.enrolled_on.isoformat(),
                "first_period": spell.first_period,
                "anchor_day": spell.anchor_day,
                "payers": [seg.model_dump(mode="json") for seg in spell.segments],
                "paid_through": str(last) if last else None,
                "lapsed_on": spell.lapsed_on.isoformat() if spell.lapsed_on else None,
                "lapse_reason": spell.lapse_reason.value if spell.lapse_reason else None,
            }
        )
    return {
        "member_id": str(member.id),
        "version": member.version,
        "region_code": s.region_code,
        "village_code": s.village_code,
        "role": s.role,
        "programmes": [p.value for p in s.programmes],
        "declared_income_rp": s.declared_income_rp,
        "spells": spells,
        "periods_paid": len(s.paid),
        "contributions_paid_rp": sum(p.amount_rp for p in s.paid.values()),
        "refunds_due": [
            {"period": k, "amount_rp": p.amount_rp, "payer_id": p.payer_id}
            for k, p in sorted(s.paid.items())
            if p.refund_due
        ],
        "refund_due_rp": sum(p.amount_rp for p in s.paid.values() if p.refund_due),
        "died_on": s.died_on.isoformat() if s.died_on else None,
        "claims": dict(s.claims),
        "jht_balance_rp": member.jht_balance_rp,
        "personal_data_erased": s.erased,
    }

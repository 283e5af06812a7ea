"""Plain handler functions: load, let the aggregates decide, save everything in one transaction.

``execute(ledger, command, actor)`` is the single entry for CLI, HTTP and broker alike. It authorises the
authenticated ``actor`` (:func:`commands.authorise.authorise`) before anything else, stamps every event with its
name, wraps every handler in the idempotency contract (command records, see :mod:`ledger.reservations`) and retries
a handler that lost an optimistic-concurrency race, so the loser re-decides on fresh state (and, for a payment,
gets "already paid"). A race is lost on an aggregate saved by both sides, or, for a decision taken on read models,
on an event that could change it written after they caught up (the handler's ``LogGuard``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from typing import Any, TypeVar

from commands import bulk
from commands.authorise import Actor, authorise
from commands.business_date import command_business_day
from commands.common import (
    context,
    end_first_attempt,
    first_attempt,
    load_agreement,
    member_for_nik,
    payload_digest,
    release_held_claims,
    reserve_reference,
    window_of,
    windows_for,
)
from commands.messages import (
    DEFAULT_PROGRAMMES,
    AmendBudget,
    ApproveClaim,
    CarryInJht,
    ChangePayer,
    Command,
    ConfirmBudget,
    EnrolMember,
    ForgetMember,
    ImportCohort,
    PayClaim,
    PayCohort,
    PayContribution,
    RecordWorkforce,
    RejectClaim,
    SignAgreement,
    SubmitClaim,
    Sweep,
)
from commands.money import MONEY_HANDLERS
from commands.principals import PRINCIPAL_HANDLERS
from commands.subject import subject_of
from eventstore.bootstrap import Ledger
from eventstore.store import LogGuard
from ledger.aggregate import Aggregate, CommandContext
from ledger.agreement import Agreement, agreement_id_for
from ledger.claim import Claim, ClaimFacts, claim_id_for
from ledger.errors import ConcurrencyConflict, InvalidInput, NotFound, RuleViolation
from ledger.identity import PersonalData, check_birth_date
from ledger.member import Member
from ledger.region import Region, region_id_for
from ledger.reservations import (
    CommandRecord,
    command_record_id,
)
from ledger.values import ClaimStatus, FundSource, PayerType, Period, require_not_before, require_region_code

RETRIES_MAX = 5
CLAIM_PAYER_ID = "BPJS-TK"
"""Claims are paid by BPJS from the programme funds, never by the scheme's payer
(docs/rules.md#claims-paid-from-funds)."""

Result = dict[str, Any]
C = TypeVar("C", bound=Command)
Decided = tuple[list[Aggregate[Any]], Result] | tuple[list[Aggregate[Any]], Result, LogGuard]
"""A handler's aggregates to save and its result, and for a decision taken on read models the guard to save
it with (:mod:`commands.money`)."""
HandlerFn = Callable[[Ledger, Any, CommandContext, date], Decided]


def execute(ledger: Ledger, command: Command, actor: Actor) -> Result:
    """Run ``command`` for ``actor`` exactly once per command id; return its (possibly replayed) result.
    A refusal (:class:`Forbidden`, a rule, bad input) writes nothing."""
    with first_attempt():  # the member authorised is the member decided on (until a retry)
        return _execute(ledger, command, actor)


def _execute(ledger: Ledger, command: Command, actor: Actor) -> Result:
    kind = command.kind  # type: ignore[attr-defined]
    subject = subject_of(ledger, command)
    authorise(actor, command, subject)  # before the replay too: a stored result is not for everyone
    digest = payload_digest(ledger, command)
    record_id = command_record_id(command.command_id)
    bulk_handler = bulk.BULK_HANDLERS.get(type(command))
    on: date | None = None
    for attempt in range(RETRIES_MAX):
        if attempt > 0:
            end_first_attempt()
        ledger.verify_heads = attempt > 0
        record = ledger.store.load(CommandRecord, record_id)
        prior = record.replay_result(kind, digest)
        if prior is not None:
            return {**prior, "replayed": True}
        ctx = context(ledger, command, actor.name)
        if on is None:  # the business day (its region read from the store) is the same on every retry
            on = command_business_day(ledger, command, subject).on
        try:
            if bulk_handler is not None:
                return bulk_handler(ledger, command, ctx, on, record, digest)
            decided = HANDLERS[type(command)](ledger, command, ctx, on)
            aggregates, result = decided[0], decided[1]
            guard = decided[2] if len(decided) == 3 else None
            record.accept(ctx, kind, digest, result, on)
            ledger.save(*aggregates, record, guard=guard)
            return result
        except ConcurrencyConflict:
            continue
        finally:
            ledger.verify_heads = True
    raise ConcurrencyConflict("command_id", f"gave up after {RETRIES_MAX} concurrent retries; try again")


# --- handlers -------------------------------------------------------------------------------------


def self_payer(member: Member) -> tuple[str, PayerType, FundSource]:
    """A self-paying member is its own payer (pseudonymous id, never the NIK)."""
    return f"SELF:{member.id.hex[:12]}", PayerType.SELF, FundSource.SELF


def sign_agreement(ledger: Ledger, cmd: SignAgreement, ctx: CommandContext, on: date) -> tuple[list[Any], Result]:
    existing = ledger.store.load(Agreement, agreement_id_for(cmd.agreement_id))
    agreement = Agreement.sign(
        ctx,
        code=cmd.agreement_id,
        name=cmd.name,
        payer_id=cmd.payer_id,
        payer_name=cmd.payer_name,
        payer_type=cmd.payer_type,
        fund_source=cmd.fund_source,
        legal_basis=cmd.legal_basis,
        region_code=cmd.region_code,
        first_period=Period.parse(cmd.first_period, "first_period"),
        last_period=Period.parse(cmd.last_period, "last_period"),
        programmes=list(cmd.programmes),
        declared_income_rp=cmd.declared_income_rp,
        billing_cadence=cmd.billing_cadence,
        budget_rp=cmd.budget_rp,
        cohort_planned=cmd.cohort_planned,
        signed_on=on,
        existing=existing,
    )
    s = agreement.state
    return [agreement], {
        "agreement_id": s.code,
        "rate_per_member_month_rp": s.rate_per_member_month_rp,
        "window": f"{s.first_period}..{s.last_period}",
    }


def amend_budget(ledger: Ledger, cmd: AmendBudget, ctx: CommandContext, on: date) -> tuple[list[Any], Result]:
    agreement = load_agreement(ledger, cmd.agreement_id)
    in_force = agreement.amend_budget(ctx, cmd.budget_rp, cmd.reason, on)
    return [agreement], {"agreement_id": cmd.agreement_id, "budget_rp": cmd.budget_rp,
                         "status": "AMENDED" if in_force else "AWAITING_CONFIRMATION"}


def confirm_budget(ledger: Ledger, cmd: ConfirmBudget, ctx: CommandContext, on: date) -> tuple[list[Any], Result]:
    agreement = load_agreement(ledger, cmd.agreement_id)
    agreement.confirm_budget(ctx, cmd.budget_rp, on)
    return [agreement], {"agreement_id": cmd.agreement_id, "budget_rp": cmd.budget_rp, "status": "AMENDED"}


def enrol_member(ledger: Ledger, cmd: EnrolMember, ctx: CommandContext, on: date) -> tuple[list[Any], Result]:
    check_birth_date(cmd.birth_date, cmd.nik, on)
    member = member_for_nik(ledger, cmd.nik, must_exist=False)
    agreement = load_agreement(ledger, cmd.agreement_id) if cmd.agreement_id else None
    windows = windows_for(ledger, member)
    if agreement is not None:
        require_not_before(on, agreement.state.signed_on, f"the signing of {agreement.state.code}")
        windows[agreement.state.code] = window_of(agreement)
        payer_id, payer_type, fund_source = (
            agreement.state.payer_id,
            agreement.state.payer_type,
            agreement.state.fund_source,
        )
        programmes = cmd.programmes or list(agreement.state.programmes)
        income = cmd.declared_income_rp or agreement.state.declared_income_rp
    else:
        payer_id, payer_type, fund_source = self_payer(member)
        programmes = cmd.programmes or list(DEFAULT_PROGRAMMES)
        if cmd.declared_income_rp is None:
            raise InvalidInput("declared_income_rp", "a self-paying member must declare an income")
        income = cmd.declared_income_rp
    plan = member.plan_enrolment(
        on=on,
        agreement=window_of(agreement) if agreement else None,
        payer_id=payer_id,
        payer_type=payer_type,
        fund_source=fund_source,
        region_code=require_region_code(cmd.region_code),
        village_code=cmd.village_code,
        role=cmd.role,
        programmes=programmes,
        declared_income_rp=income,
        windows=windows,
    )
    personal = None
    if not member.exists:  # sealed only once the enrolment is known to be valid: no key for a refusal
        data = PersonalData(nik=cmd.nik, name=cmd.name, birth_date=cmd.birth_date, address=cmd.address, phone=cmd.phone)
        personal = ledger.keyring.seal(member.id, data.model_dump_json().encode())
    member.enrol(ctx, plan, personal)
    spell = member.state.spells[-1]
    return [member], {"member_id": str(member.id), "first_period": spell.first_period, "payer_id": payer_id}


def pay_contribution(
    ledger: Ledger, cmd: PayContribution, ctx: CommandContext, on: date
) -> tuple[list[Any], Result]:
    member = member_for_nik(ledger, cmd.nik)
    windows = windows_for(ledger, member)
    periods = [Period.parse(p, "periods") for p in cmd.periods]
    decision = member.pay(
        ctx,
        on=on,
        periods=periods,
        amount_rp=cmd.amount_rp,
        payment_reference=cmd.payment_reference,
        windows=windows,
        payer_id=cmd.payer_id,
    )
    ref = reserve_reference(
        ledger, ctx, cmd.payment_reference, decision.segment.payer_id, cmd.amount_rp, "contribution", on
    )
    released = release_held_claims(ledger, ctx, member, on, cmd.payment_reference)
    return [member, ref, *released], {
        "member_id": str(member.id),
        "periods": decision.periods,
        "amount_rp": decision.amount_rp,
        "reinstated": decision.late_periods,
        "claims_released": [c.state.claim_ref for c in released],
    }


def change_payer(ledger: Ledger, cmd: ChangePayer, ctx: CommandContext, on: date) -> tuple[list[Any], Result]:
    member = member_for_nik(ledger, cmd.nik)
    windows = windows_for(ledger, member)
    if cmd.agreement_id:
        agreement = load_agreement(ledger, cmd.agreement_id)
        require_not_before(on, agreement.state.signed_on, f"the signing of {agreement.state.code}")
        window = window_of(agreement)
        windows[window.code] = window
        payer_id, payer_type, fund_source = (
            agreement.state.payer_id,
            agreement.state.payer_type,
            agreement.state.fund_source,
        )
    else:
        window = None
        payer_id, payer_type, fund_source = self_payer(member)
    member.change_payer(
        ctx,
        on=on,
        from_period=Period.parse(cmd.from_period, "from_period"),
        agreement=window,
        payer_id=payer_id,
        payer_type=payer_type,
        fund_source=fund_source,
        windows=windows,
    )
    return [member], {"member_id": str(member.id), "payer_id": payer_id, "from_period": cmd.from_period}


def carry_in_jht(ledger: Ledger, cmd: CarryInJht, ctx: CommandContext, on: date) -> tuple[list[Any], Result]:
    member = member_for_nik(ledger, cmd.nik)
    member.carry_in_jht(ctx, cmd.amount_rp, cmd.source, on)
    return [member], {"member_id": str(member.id), "jht_balance_rp": member.jht_balance_rp}


def forget_member(ledger: Ledger, cmd: ForgetMember, ctx: CommandContext, on: date) -> tuple[list[Any], Result]:
    member = member_for_nik(ledger, cmd.nik)
    member.erase_personal_data(ctx, cmd.reason, on)
    # destroy the key first: if saving the event then fails, the data is gone anyway (fail safe)
    ledger.keyring.forget(member.id)
    return [member], {"member_id": str(member.id), "personal_data_erased": True}


def submit_claim(ledger: Ledger, cmd: SubmitClaim, ctx: CommandContext, on: date) -> tuple[list[Any], Result]:
    member = member_for_nik(ledger, cmd.nik)
    existing = ledger.store.load(Claim, claim_id_for(cmd.claim_id))
    death_claim = ledger.store.load(Claim, claim_id_for(cmd.death_claim_id)) if cmd.death_claim_id else None
    previous = member.state.death_claim_ref
    previous_death_claim = ledger.store.load(Claim, claim_id_for(previous)) if previous else None
    facts = ClaimFacts(
        claim_type=cmd.claim_type,
        event_date=cmd.event_date,
        declared_income_rp=cmd.declared_income_rp or member.state.declared_income_rp,
        months_unable=cmd.months_unable,
        medical_cost_rp=cmd.medical_cost_rp,
        home_care_cost_rp=cmd.home_care_cost_rp,
        home_care_days=cmd.home_care_days,
        school_levels=list(cmd.school_levels),
        death_claim_ref=cmd.death_claim_id,
    )
    sealed = None
    if cmd.heir_name:
        sealed = ledger.keyring.seal(member.id, json.dumps({"heir_name": cmd.heir_name}).encode())
    claim = Claim.submit(
        ctx,
        claim_ref=cmd.claim_id,
        member=member,
        facts=facts,
        on=on,
        sealed_details=sealed,
        existing=existing,
        death_claim=death_claim,
        previous_death_claim=previous_death_claim,
    )
    return [claim, member], claim_result(claim)


def claim_result(claim: Claim) -> Result:
    s = claim.state
    return {
        "claim_id": s.claim_ref,
        "status": s.status.value,
        "amount_rp": s.amount_rp,
        "components": dict(s.components),
        "reason_code": s.reason_code,
    }


def load_claim(ledger: Ledger, claim_ref: str) -> Claim:
    claim = ledger.store.load(Claim, claim_id_for(claim_ref))
    if not claim.exists:
        raise NotFound("claim_id", f"unknown claim {claim_ref}")
    return claim


def approve_claim(ledger: Ledger, cmd: ApproveClaim, ctx: CommandContext, on: date) -> tuple[list[Any], Result]:
    claim = load_claim(ledger, cmd.claim_id)
    assert claim.state.member_id is not None
    member = ledger.store.load(Member, claim.state.member_id)
    claim.approve(ctx, member, on)
    return [claim, member], claim_result(claim)


def reject_claim(ledger: Ledger, cmd: RejectClaim, ctx: CommandContext, on: date) -> tuple[list[Any], Result]:
    claim = load_claim(ledger, cmd.claim_id)
    claim.reject(ctx, on, cmd.reason_code, cmd.reason)
    return [claim], claim_result(claim)


def pay_claim(ledger: Ledger, cmd: PayClaim, ctx: CommandContext, on: date) -> tuple[list[Any], Result]:
    claim = load_claim(ledger, cmd.claim_id)
    if claim.state.status is not ClaimStatus.APPROVED:
        raise RuleViolation("claim_id", f"cannot pay claim {cmd.claim_id}: it is {claim.state.status.value}")
    ref = reserve_reference(
        ledger, ctx, cmd.payment_reference, CLAIM_PAYER_ID, claim.state.amount_rp, "claim_payout", on
    )
    claim.pay(ctx, on, cmd.payment_reference)
    return [claim, ref], {**claim_result(claim), "payment_reference": cmd.payment_reference}


def record_workforce(
    ledger: Ledger, cmd: RecordWorkforce, ctx: CommandContext, on: date
) -> tuple[list[Any], Result]:
    region = ledger.store.load(Region, region_id_for(cmd.region_code))
    region.record_workforce(ctx, cmd.region_code, cmd.workforce, cmd.source, on)
    return [region], {"region_code": cmd.region_code, "workforce": cmd.workforce, "from": on.isoformat()}


HANDLERS: dict[type[Command], HandlerFn] = {
    SignAgreement: sign_agreement,
    AmendBudget: amend_budget,
    ConfirmBudget: confirm_budget,
    EnrolMember: enrol_member,
    PayContribution: pay_contribution,
    ChangePayer: change_payer,
    CarryInJht: carry_in_jht,
    ForgetMember: forget_member,
    SubmitClaim: submit_claim,
    ApproveClaim: approve_claim,
    RejectClaim: reject_claim,
    PayClaim: pay_claim,
    RecordWorkforce: record_workforce,
    **MONEY_HANDLERS,
    **PRINCIPAL_HANDLERS,
}

assert set(HANDLERS).isdisjoint(bulk.BULK_HANDLERS)
assert {PayCohort, ImportCohort, Sweep} <= set(bulk.BULK_HANDLERS)

"""What a command is about: the regions (for its business day) and the payers and regions (for a principal's scope).

One table, :data:`SUBJECT_OF`, read from the store once per command (docs/rules.md#time-zones, #principals):

- an agreement's commands (amend, confirm, bill, pay or import a cohort): the agreement's region and payer;
- a member's commands (pay, change payer, JHT, forget, reveal, claims): the member's region and every payer that
  ever funded the member;
- enrolment: the region given, and the agreement's payer (or none: self-paying); agreement signing: the region
  and payer given; workforce: the region given;
- a payer's money commands (statement import, refund settlement, a reconciliation run for one payer): the payer,
  and the regions of its agreements;
- resolving an exception: the national day, and the payer of its statement;
- the rest spans regions and payers (a sweep of the whole ledger, a run of every payer, managing principals):
  national — the national rules give the day, and only the ``all`` scope reaches it.

An unknown agreement, member or claim is about nothing known: the national rules give the date, only the ``all``
scope reaches it (a scoped principal learns nothing about whether it exists), and the handler then refuses the
command for what it is (unknown ...).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from commands.common import load_member
from commands.messages import (
    AddPrincipal,
    AmendBudget,
    ApproveClaim,
    BillAgreement,
    CarryInJht,
    ChangePayer,
    Command,
    ConfirmBudget,
    EnrolMember,
    ForgetMember,
    ImportCohort,
    ImportStatement,
    PayClaim,
    PayCohort,
    PayContribution,
    RecordWorkforce,
    RejectClaim,
    ResolveException,
    RevealMember,
    RevokePrincipal,
    RotatePrincipalToken,
    RunReconciliation,
    SetPrincipalPassword,
    SettleRefund,
    SignAgreement,
    SubmitClaim,
    Sweep,
)
from eventstore.bootstrap import Ledger
from ledger.agreement import Agreement, agreement_id_for
from ledger.business_time import known_region
from ledger.claim import Claim, claim_id_for
from ledger.identity import member_id_for
from ledger.member import Member


@dataclass(frozen=True)
class Subject:
    """The regions a command's day is decided in (``None``: national) and the payers and regions it concerns."""

    regions: list[str | None] = field(default_factory=lambda: [None])
    payer_ids: frozenset[str] = frozenset()

    @property
    def region_codes(self) -> frozenset[str]:
        return frozenset(r for r in self.regions if r)


NATIONAL = Subject()


def _recorded(ledger: Ledger, region_code: str | None) -> str | None:
    return known_region(region_code, ledger.clock.now())


def agreement_subject(ledger: Ledger, code: str | None) -> Subject:
    if code is None:
        return NATIONAL
    agreement = ledger.store.load(Agreement, agreement_id_for(code))
    if not agreement.exists:
        return NATIONAL
    return Subject([_recorded(ledger, agreement.state.region_code)], frozenset({agreement.state.payer_id}))


def _member(ledger: Ledger, member: Member) -> Subject:
    if not member.exists:
        return NATIONAL
    payers = {seg.payer_id for spell in member.state.spells for seg in spell.segments}
    return Subject([_recorded(ledger, member.state.region_code)], frozenset(payers))


def member_subject(ledger: Ledger, nik: str) -> Subject:
    return _member(ledger, load_member(ledger, member_id_for(ledger.keyring.secrets.pepper, nik)))


def _claim(ledger: Ledger, claim_ref: str) -> Subject:
    claim = ledger.store.load(Claim, claim_id_for(claim_ref))
    if not claim.exists or claim.state.member_id is None:
        return NATIONAL
    return _member(ledger, ledger.store.load(Member, claim.state.member_id))


def payer_subject(ledger: Ledger, payer_id: str | None) -> Subject:
    """The payer and the regions of its agreements (agreements are few: one per scheme and year)."""
    if payer_id is None:
        return NATIONAL
    agreements = [row.aggregate(Agreement).state for row in ledger.store.snapshots_of_kind("Agreement")]
    found = sorted({_recorded(ledger, a.region_code) or "" for a in agreements if a.payer_id == payer_id})
    return Subject([r or None for r in found] or [None], frozenset({payer_id}))


def _exception(ledger: Ledger, cmd: ResolveException) -> Subject:
    """Resolving an exception is decided on the national day (docs/rules.md#time-zones) but concerns the payer of
    its statement, so a payer's finance officer may resolve it."""
    from commands.money import statement_payer

    payer_id = statement_payer(ledger, cmd.statement_id)
    return Subject([None], frozenset({payer_id})) if payer_id else NATIONAL


def _enrolment(ledger: Ledger, cmd: EnrolMember) -> Subject:
    payers = agreement_subject(ledger, cmd.agreement_id).payer_ids
    return Subject([cmd.region_code], payers)


def _cohort(ledger: Ledger, cmd: ImportCohort) -> Subject:
    of_agreement = agreement_subject(ledger, cmd.agreement_id)
    return Subject([cmd.region_code], of_agreement.payer_ids) if cmd.region_code else of_agreement


SUBJECT_OF: dict[type[Command], Callable[[Ledger, Any], Subject]] = {
    SignAgreement: lambda _, c: Subject([c.region_code], frozenset({c.payer_id})),
    EnrolMember: _enrolment,
    RecordWorkforce: lambda _, c: Subject([c.region_code]),
    AmendBudget: lambda ledger, c: agreement_subject(ledger, c.agreement_id),
    ConfirmBudget: lambda ledger, c: agreement_subject(ledger, c.agreement_id),
    BillAgreement: lambda ledger, c: agreement_subject(ledger, c.agreement_id),
    PayCohort: lambda ledger, c: agreement_subject(ledger, c.agreement_id),
    ImportCohort: _cohort,
    PayContribution: lambda ledger, c: member_subject(ledger, c.nik),
    ChangePayer: lambda ledger, c: member_subject(ledger, c.nik),
    CarryInJht: lambda ledger, c: member_subject(ledger, c.nik),
    ForgetMember: lambda ledger, c: member_subject(ledger, c.nik),
    RevealMember: lambda ledger, c: member_subject(ledger, c.nik),
    SubmitClaim: lambda ledger, c: member_subject(ledger, c.nik),
    ApproveClaim: lambda ledger, c: _claim(ledger, c.claim_id),
    RejectClaim: lambda ledger, c: _claim(ledger, c.claim_id),
    PayClaim: lambda ledger, c: _claim(ledger, c.claim_id),
    ImportStatement: lambda ledger, c: payer_subject(ledger, c.payer_id),
    SettleRefund: lambda ledger, c: payer_subject(ledger, c.payer_id),
    RunReconciliation: lambda ledger, c: payer_subject(ledger, c.payer_id),
    ResolveException: _exception,
    Sweep: lambda _, c: NATIONAL,
    AddPrincipal: lambda _, c: NATIONAL,
    RotatePrincipalToken: lambda _, c: NATIONAL,
    SetPrincipalPassword: lambda _, c: NATIONAL,
    RevokePrincipal: lambda _, c: NATIONAL,
}


def subject_of(ledger: Ledger, command: Command) -> Subject:
    return SUBJECT_OF[type(command)](ledger, command)

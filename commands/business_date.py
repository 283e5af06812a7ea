"""The business date of a command: ``--on`` or today, in the zone of the region the command is about.

:func:`ledger.business_time.business_day` decides the day and refuses a future one; this module only says
which region a command is about (docs/rules.md#time-zones):

- an agreement's commands (amend, bill, pay or import a cohort): the agreement's region;
- a member's commands (pay, change payer, JHT, forget, claims): the member's region;
- enrolment, agreement signing, workforce: the region given in the command;
- a payer's money commands (statement import, refund settlement, a reconciliation run for one payer): the
  regions of the payer's agreements;
- the rest spans regions (a sweep of the whole ledger, a reconciliation run of every payer, resolving an
  exception): the national rules apply. A sweep without ``--on`` then decides each member on its own
  region's day (see :func:`commands.bulk.sweep`).

An unknown agreement, member or claim has no region: the national rules give the date and the handler then
refuses the command for what it is (unknown ...).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from commands.bootstrap import Ledger
from commands.messages import (
    AmendBudget,
    ApproveClaim,
    BillAgreement,
    CarryInJht,
    ChangePayer,
    Command,
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
    RunReconciliation,
    SettleRefund,
    SignAgreement,
    SubmitClaim,
    Sweep,
)
from ledger.agreement import Agreement, agreement_id_for
from ledger.business_time import BusinessDay, business_day, known_region
from ledger.claim import Claim, claim_id_for
from ledger.identity import member_id_for
from ledger.member import Member

Regions = list[str | None]


def _recorded(ledger: Ledger, region_code: str | None) -> str | None:
    return known_region(region_code, ledger.clock.now())


def _agreement_region(ledger: Ledger, code: str) -> Regions:
    agreement = ledger.store.load(Agreement, agreement_id_for(code))
    return [_recorded(ledger, agreement.state.region_code) if agreement.exists else None]


def _member_region(ledger: Ledger, nik: str) -> Regions:
    member = ledger.store.load(Member, member_id_for(ledger.keyring.secrets.pepper, nik))
    return [_recorded(ledger, member.state.region_code) if member.exists else None]


def _claim_region(ledger: Ledger, claim_ref: str) -> Regions:
    claim = ledger.store.load(Claim, claim_id_for(claim_ref))
    if not claim.exists or claim.state.member_id is None:
        return [None]
    member = ledger.store.load(Member, claim.state.member_id)
    return [_recorded(ledger, member.state.region_code) if member.exists else None]


def payer_regions(ledger: Ledger, payer_id: str | None) -> Regions:
    """The regions of a payer's agreements (agreements are few: one per scheme and year)."""
    if payer_id is None:
        return [None]
    agreements = [row.aggregate(Agreement).state for row in ledger.store.snapshots_of_kind("Agreement")]
    found = sorted({_recorded(ledger, a.region_code) or "" for a in agreements if a.payer_id == payer_id})
    return [r or None for r in found] or [None]


REGIONS_OF: dict[type[Command], Callable[[Ledger, Any], Regions]] = {
    SignAgreement: lambda _, c: [c.region_code],
    EnrolMember: lambda _, c: [c.region_code],
    RecordWorkforce: lambda _, c: [c.region_code],
    AmendBudget: lambda ledger, c: _agreement_region(ledger, c.agreement_id),
    BillAgreement: lambda ledger, c: _agreement_region(ledger, c.agreement_id),
    PayCohort: lambda ledger, c: _agreement_region(ledger, c.agreement_id),
    ImportCohort: lambda ledger, c: [c.region_code] if c.region_code else _agreement_region(ledger, c.agreement_id),
    PayContribution: lambda ledger, c: _member_region(ledger, c.nik),
    ChangePayer: lambda ledger, c: _member_region(ledger, c.nik),
    CarryInJht: lambda ledger, c: _member_region(ledger, c.nik),
    ForgetMember: lambda ledger, c: _member_region(ledger, c.nik),
    SubmitClaim: lambda ledger, c: _member_region(ledger, c.nik),
    ApproveClaim: lambda ledger, c: _claim_region(ledger, c.claim_id),
    RejectClaim: lambda ledger, c: _claim_region(ledger, c.claim_id),
    PayClaim: lambda ledger, c: _claim_region(ledger, c.claim_id),
    ImportStatement: lambda ledger, c: payer_regions(ledger, c.payer_id),
    SettleRefund: lambda ledger, c: payer_regions(ledger, c.payer_id),
    RunReconciliation: lambda ledger, c: payer_regions(ledger, c.payer_id),
    ResolveException: lambda _, c: [None],
    Sweep: lambda _, c: [None],
}


def command_business_day(ledger: Ledger, command: Command) -> BusinessDay:
    """``command.effective_on`` (refused when in the future) or today, in the zone of its region."""
    regions = REGIONS_OF[type(command)](ledger, command)
    return business_day(ledger.clock.now(), command.effective_on, regions, field="effective_on")

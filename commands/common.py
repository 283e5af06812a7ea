"""Helpers shared by the single-aggregate handlers and the bulk paths."""

from __future__ import annotations

import json
from datetime import date

from commands.messages import Command
from eventstore.bootstrap import Ledger
from eventstore.clock import SystemClock
from ledger.aggregate import CommandContext
from ledger.agreement import Agreement, agreement_id_for
from ledger.claim import Claim, claim_id_for
from ledger.coverage import AgreementWindow
from ledger.errors import NotFound
from ledger.identity import member_id_for
from ledger.member import Member
from ledger.reservations import PaymentReference, payment_reference_id

_WALL_CLOCK = SystemClock()


def payload_digest(ledger: Ledger, command: Command) -> str:
    """Keyed fingerprint of the payload (a plain hash of a NIK could be brute-forced)."""
    canonical = json.dumps(command.payload(), sort_keys=True, separators=(",", ":"), default=str)
    return ledger.keyring.digest(canonical.encode()).hex()


def context(ledger: Ledger, command: Command, actor: str) -> CommandContext:
    """The command's provenance: its id, the authenticated principal's name, the ledger's and the wall clock."""
    return CommandContext(
        command_id=command.command_id,
        actor=actor,
        recorded_at=ledger.clock.now(),
        timestamp=_WALL_CLOCK.now(),
    )


def load_agreement(ledger: Ledger, code: str, field: str = "agreement_id") -> Agreement:
    agreement = ledger.store.load(Agreement, agreement_id_for(code))
    if not agreement.exists:
        raise NotFound(field, f"unknown agreement {code}")
    return agreement


def window_of(agreement: Agreement) -> AgreementWindow:
    return AgreementWindow(agreement.state.code, agreement.first_period, agreement.last_period)


def windows_for(ledger: Ledger, member: Member) -> dict[str, AgreementWindow]:
    codes = {seg.agreement_code for spell in member.state.spells for seg in spell.segments if seg.agreement_code}
    return {code: window_of(load_agreement(ledger, code)) for code in codes}


def member_for_nik(ledger: Ledger, nik: str, *, must_exist: bool = True) -> Member:
    member = ledger.store.load(Member, member_id_for(ledger.keyring.secrets.pepper, nik))
    if must_exist and not member.exists:
        raise NotFound("nik", "unknown member (no enrolment for this NIK)")
    return member


def reserve_reference(
    ledger: Ledger, ctx: CommandContext, reference: str, payer_id: str, amount_rp: int, purpose: str, on: date
) -> PaymentReference:
    ref = ledger.store.load(PaymentReference, payment_reference_id(reference))
    ref.use(ctx, reference=reference, payer_id=payer_id, amount_rp=amount_rp, purpose=purpose, on=on)
    return ref


def release_held_claims(
    ledger: Ledger, ctx: CommandContext, member: Member, on: date, reference: str
) -> list[Claim]:
    """The member's held claims whose unpaid months are now paid, released (to save with the member)."""
    released = []
    for claim_ref in member.state.claims:
        claim = ledger.store.load(Claim, claim_id_for(claim_ref))
        if claim.release_if_paid(ctx, member, on, reference):
            released.append(claim)
    return released


def all_windows(ledger: Ledger) -> dict[str, AgreementWindow]:
    """Every agreement's window (agreements are few: one per scheme and year)."""
    out = {}
    for row in ledger.store.snapshots_of_kind("Agreement"):
        agreement = row.aggregate(Agreement)
        out[agreement.state.code] = window_of(agreement)
    return out

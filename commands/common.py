"""Helpers shared by the single-aggregate handlers and the bulk paths."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
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
_FIRST_ATTEMPT: ContextVar[dict[uuid.UUID, Member] | None] = ContextVar("first_attempt_members", default=None)
"""The members read so far by the command being run on this thread (or task), during its first attempt only."""


@contextmanager
def first_attempt() -> Iterator[None]:
    """While one command runs: the member its authorisation read (the one its NIK names) is handed to its first
    attempt instead of being read again. Safe under optimistic concurrency: if another writer changed the member
    in between, this write collides on (id, version) and the retry, after :func:`end_first_attempt`, reads afresh.
    Per thread and task (a context variable), so concurrent commands never share a member."""
    token = _FIRST_ATTEMPT.set({})
    try:
        yield
    finally:
        _FIRST_ATTEMPT.reset(token)


def end_first_attempt() -> None:
    """From here on (a retry) every read goes to the store."""
    _FIRST_ATTEMPT.set(None)


def load_member(ledger: Ledger, member_id: uuid.UUID) -> Member:
    """The member, from the store, or as the running command's first attempt already read it."""
    seen = _FIRST_ATTEMPT.get()
    if seen is None:
        return ledger.store.load(Member, member_id)
    member = seen.get(member_id)
    if member is None:
        member = seen[member_id] = ledger.store.load(Member, member_id)
    return member


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
    member = load_member(ledger, member_id_for(ledger.keyring.secrets.pepper, nik))
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

"""Reservation aggregates: business keys made unique by the event store's own (id, version) key.

Two writers cannot both create version 1 of the same id, so saving a reservation in the same
transaction as the command's events makes "used twice" impossible on every store:
- :class:`CommandRecord` — one per command id (idempotency: same payload → original result).
- :class:`PaymentReference` — one per payment reference (an SP2D or transfer id is spent once).
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from pydantic import BaseModel

from ledger.aggregate import Aggregate, CommandContext
from ledger.errors import AlreadyDone, IdempotencyConflict
from ledger.events import CommandAccepted, ExceptionKind, LedgerEvent, PaymentReferenceShortfall, PaymentReferenceUsed
from ledger.values import format_rp, require_code

NS_COMMAND = uuid.UUID("5e9a3c1d-2b4f-4e6a-8d7c-1a2b3c4d5e6f")
NS_PAYMENT_REFERENCE = uuid.UUID("9d8c7b6a-5f4e-4d3c-2b1a-0f9e8d7c6b5a")


def command_record_id(command_id: str) -> uuid.UUID:
    return uuid.uuid5(NS_COMMAND, command_id)


def payment_reference_id(reference: str) -> uuid.UUID:
    return uuid.uuid5(NS_PAYMENT_REFERENCE, reference)


class CommandRecordState(BaseModel):
    command_type: str = ""
    payload_digest: str = ""
    result: dict[str, Any] = {}


class CommandRecord(Aggregate[CommandRecordState]):
    """The memory of one command id: what it asked (a keyed digest) and what it answered.

    Keeps no snapshot row (``snapshotted``): it is loaded by id from its one ``CommandAccepted`` event, never listed
    by kind, and its state (the result) is new with every command."""

    state_type = CommandRecordState
    snapshotted = False

    def replay_result(self, command_type: str, payload_digest: str) -> dict[str, Any] | None:
        """The original result for a retry, None if unused; raises if the id was used otherwise."""
        if not self.exists:
            return None
        if self.state.command_type != command_type or self.state.payload_digest != payload_digest:
            raise IdempotencyConflict(
                "command_id",
                f"already used for a different {self.state.command_type} command; use a new command id",
            )
        return dict(self.state.result)

    def accept(
        self, ctx: CommandContext, command_type: str, payload_digest: str, result: dict[str, Any], on: date
    ) -> None:
        assert not self.exists, "a command id is accepted once"
        self._trigger(
            ctx, CommandAccepted, on, command_type=command_type, payload_digest=payload_digest, result=result
        )

    def apply(self, event: LedgerEvent) -> None:
        assert isinstance(event, CommandAccepted)
        self.state.command_type = event.command_type
        self.state.payload_digest = event.payload_digest
        self.state.result = dict(event.result)


class PaymentReferenceState(BaseModel):
    reference: str = ""
    payer_id: str = ""
    amount_rp: int = 0
    purpose: str = ""
    command_id: str = ""
    shortfall_rp: int = 0
    """What an exception says was reserved and not credited (docs/rules.md#reference-shortfall)."""


class PaymentReference(Aggregate[PaymentReferenceState]):
    """A payment reference, spent once by one payer for one amount."""

    state_type = PaymentReferenceState

    def use(self, ctx: CommandContext, *, reference: str, payer_id: str, amount_rp: int, purpose: str,
            on: date) -> None:
        reference = require_code(reference, "payment_reference")
        if self.exists:
            s = self.state
            if s.command_id == ctx.command_id:
                if s.amount_rp != amount_rp:
                    raise IdempotencyConflict(
                        "command_id", f"{reference} was reserved by this command id for {format_rp(s.amount_rp)}, "
                                      f"not {format_rp(amount_rp)}: resume with the same payload or use a new id")
                return  # a resumed bulk command continues under its own reservation
            if s.payer_id != payer_id or s.amount_rp != amount_rp:
                raise AlreadyDone(
                    "payment_reference",
                    f"{reference} was already used by payer {s.payer_id} for {format_rp(s.amount_rp)}",
                )
            raise AlreadyDone("payment_reference", f"{reference} was already used (command {s.command_id})")
        self._trigger(
            ctx, PaymentReferenceUsed, on, reference=reference, payer_id=payer_id, amount_rp=amount_rp,
            purpose=purpose,
        )

    def record_shortfall(self, ctx: CommandContext, *, credited_rp: int, already_paid_elsewhere: list[str],
                         no_longer_payable: dict[str, int], on: date) -> None:
        """Raise the reconciliation exception for what was reserved and not credited (nothing if equal)."""
        difference_rp = self.state.amount_rp - credited_rp - self.state.shortfall_rp
        if difference_rp == 0:
            return
        reason = (f"{self.state.reference} reserved {format_rp(self.state.amount_rp)}, credited "
                  f"{format_rp(credited_rp)}: {len(already_paid_elsewhere)} member(s) already paid elsewhere, "
                  f"{sum(no_longer_payable.values())} no longer payable")
        self._trigger(ctx, PaymentReferenceShortfall, on, kind=ExceptionKind.REFERENCE_SHORTFALL,
                      reference=self.state.reference, payer_id=self.state.payer_id,
                      reserved_rp=self.state.amount_rp, credited_rp=credited_rp, difference_rp=difference_rp,
                      already_paid_elsewhere=already_paid_elsewhere, no_longer_payable=no_longer_payable,
                      reason=reason)

    def apply(self, event: LedgerEvent) -> None:
        if isinstance(event, PaymentReferenceShortfall):
            self.state.shortfall_rp += event.difference_rp
            return
        assert isinstance(event, PaymentReferenceUsed)
        self.state.reference = event.reference
        self.state.payer_id = event.payer_id
        self.state.amount_rp = event.amount_rp
        self.state.purpose = event.purpose
        self.state.command_id = event.command_id

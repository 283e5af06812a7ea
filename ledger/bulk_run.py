"""A bulk command's progress: the aggregate that makes a half-done cohort payment, import or sweep visible and
resumable (docs/rules.md#bulk-progress).

One :class:`BulkRun` per command id, saved with every batch of the command: its first batch records what was
decided (how many members, for a payment the amount and the plan: which members), each batch how many are done,
the last batch that it completed. Two processes running the same command id collide on this stream's version, so
one batch is never written twice; a rerun with the same command id and payload resumes from the store.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime

from pydantic import BaseModel

from ledger.aggregate import Aggregate, CommandContext
from ledger.errors import IdempotencyConflict
from ledger.events import (
    BulkBatchCommitted,
    BulkCommandCompleted,
    BulkCommandStarted,
    BulkMembersPlanned,
    LedgerEvent,
)

NS_BULK_RUN = uuid.UUID("3f1c2a7e-6b8d-4c5e-9a0f-7d6e5c4b3a21")
PLAN_CHUNK_MAX = 10_000
"""Member ids per plan event (a plan of 50,000 members is five events of ~330 kB)."""


def bulk_run_id(command_id: str) -> uuid.UUID:
    return uuid.uuid5(NS_BULK_RUN, command_id)


class BulkRunState(BaseModel):
    command_type: str = ""
    payload_digest: str = ""
    command_id: str = ""
    members_total: int = 0
    members_done: int = 0
    members_planned: int = 0
    amount_rp: int = 0
    payment_reference: str | None = None
    started_at: datetime | None = None
    updated_at: datetime | None = None
    completed: bool = False
    not_done: int = 0


class BulkRun(Aggregate[BulkRunState]):
    """The progress of one bulk command id (the plan's member ids are read from its events, not kept here)."""

    state_type = BulkRunState

    @property
    def in_progress(self) -> bool:
        return self.exists and not self.state.completed

    def require_same(self, command_type: str, payload_digest: str) -> None:
        """A rerun must be the same command: another payload under a half-done command id is refused."""
        if self.state.command_type != command_type or self.state.payload_digest != payload_digest:
            raise IdempotencyConflict(
                "command_id", f"a {self.state.command_type} with another payload is in progress under this command "
                              f"id ({self.state.members_done}/{self.state.members_total} done): rerun it with the "
                              "same payload to complete it")

    def begin(self, ctx: CommandContext, *, command_type: str, payload_digest: str, members_total: int, on: date,
              amount_rp: int = 0, payment_reference: str | None = None, plan: Sequence[uuid.UUID] = ()) -> None:
        if self.exists:
            self.require_same(command_type, payload_digest)
            return
        self._trigger(ctx, BulkCommandStarted, on, command_type=command_type, payload_digest=payload_digest,
                      members_total=members_total, amount_rp=amount_rp, payment_reference=payment_reference)
        ids = [m.hex for m in plan]
        for i in range(0, len(ids), PLAN_CHUNK_MAX):
            self._trigger(ctx, BulkMembersPlanned, on, member_ids=ids[i : i + PLAN_CHUNK_MAX])

    def progress(self, ctx: CommandContext, members_done: int, on: date) -> None:
        self._trigger(ctx, BulkBatchCommitted, on, members_done=members_done)

    def complete(self, ctx: CommandContext, members_done: int, not_done: int, on: date) -> None:
        self._trigger(ctx, BulkCommandCompleted, on, members_done=members_done, not_done=not_done,
                      payment_reference=self.state.payment_reference)

    def apply(self, event: LedgerEvent) -> None:
        s = self.state
        s.updated_at = event.recorded_at
        if isinstance(event, BulkCommandStarted):
            s.command_type, s.payload_digest, s.command_id = event.command_type, event.payload_digest, event.command_id
            s.members_total, s.amount_rp = event.members_total, event.amount_rp
            s.payment_reference, s.started_at = event.payment_reference, event.recorded_at
        elif isinstance(event, BulkMembersPlanned):
            s.members_planned += len(event.member_ids)
        elif isinstance(event, BulkBatchCommitted):
            s.members_done = event.members_done
        else:
            assert isinstance(event, BulkCommandCompleted)
            s.members_done, s.not_done, s.completed = event.members_done, event.not_done, True


def planned_members(events: Sequence[LedgerEvent]) -> list[uuid.UUID]:
    """The plan recorded by a run's events, in order."""
    return [uuid.UUID(hex=m) for e in events if isinstance(e, BulkMembersPlanned) for m in e.member_ids]

"""Admitting a bulk command (a cohort import or payment, a statement file) to run later, as a job: everything that
can refuse it is decided now, writing nothing, so a face can answer at once and run the command afterwards.

- :func:`bulk_digest`: the role and scope (:func:`commands.authorise.authorise`), then the payload's digest;
- :func:`bulk_admission`: a key used by another principal, or completed before with another payload, is refused
  (``IdempotencyConflict``); a completed command gives its recorded result; a run stopped half-way gives the members
  it wrote (it resumes); a first run is decided by ``check`` (a cohort file's bad rows, a wrong amount), which
  returns the members it will handle.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from commands.authorise import Actor, authorise
from commands.bulk import bulk_command_status
from commands.business_date import command_business_day
from commands.common import context, payload_digest
from commands.messages import Command
from commands.subject import subject_of
from eventstore.bootstrap import Ledger
from ledger.aggregate import CommandContext
from ledger.bulk_run import BulkRun, bulk_run_id
from ledger.errors import IdempotencyConflict
from ledger.reservations import CommandRecord, command_record_id

Result = dict[str, Any]
Check = Callable[[CommandContext, date], int | None]


@dataclass(frozen=True, slots=True)
class BulkAdmission:
    """What running the command now would do: replay ``prior`` (completed before), or write the members from
    ``members_done`` (more than 0: a run stopped half-way resumes) to ``members_total`` (None: not known ahead)."""

    prior: Result | None
    members_done: int | None
    members_total: int | None


def bulk_digest(ledger: Ledger, command: Command, actor: Actor) -> str:
    """Refuse ``actor`` (``Forbidden``) unless its role and scope allow ``command``; the payload's digest."""
    authorise(actor, command, subject_of(ledger, command))
    return payload_digest(ledger, command)


def bulk_admission(ledger: Ledger, command: Command, actor: Actor, digest: str,
                   check: Check | None = None) -> BulkAdmission:
    """See the module docstring; nothing is written."""
    kind: str = command.kind  # type: ignore[attr-defined]
    key = command.command_id
    stored = bulk_command_status(ledger, key)
    if stored is not None and stored["actor"] != actor.name:
        raise IdempotencyConflict("Idempotency-Key", "already used for another request; use a new key")
    prior = ledger.store.load(CommandRecord, command_record_id(key)).replay_result(kind, digest)
    if prior is not None:
        return BulkAdmission(prior, members_of(prior), members_of(prior))
    run = ledger.store.load(BulkRun, bulk_run_id(key))
    if run.exists:
        run.require_same(kind, digest)
        return BulkAdmission(None, run.state.members_done, run.state.members_total)
    if check is None:
        return BulkAdmission(None, 0, None)
    on = command_business_day(ledger, command, subject_of(ledger, command)).on
    return BulkAdmission(None, 0, check(context(ledger, command, actor.name), on))


def members_of(result: Result) -> int | None:
    """The members a bulk command's result says it handled (enrolled or paid, resumed included)."""
    if "members_paid" in result:
        return int(result["members_paid"])
    if "imported" in result:
        return int(result["imported"]) + int(result.get("resumed", 0))
    return None

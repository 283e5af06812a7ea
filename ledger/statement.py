"""Bank statements (rekening koran) of payers, and the reconciliation decisions on their lines.

Invariants:
- A statement is recorded once: its aggregate id is derived from its SHA-256 (of the raw file for CSV/XLSX, of
  the statement's own text for each MT940 statement), so a re-import finds it and records nothing.
- Every line is decided at most once by the cascade (matched or an exception), and an exception is
  resolved by a command (match by hand, write off, park in suspense), never by editing a row.
- A hand match allocates exactly the line's amount; a written-off line cannot be matched later.
- Lines and decisions go out in chunks of at most ``CHUNK_LINES_MAX`` per event, so the stream of a
  million-line statement stays a few hundred events and its state a few counters.

The :class:`ReconciliationBook` of a payer is touched by every run and every resolution for that payer: two
operators reconciling the same payer at once conflict on its version and the loser re-decides on fresh data
(no invoice is allocated twice).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date

from pydantic import BaseModel

from ledger.aggregate import Aggregate, CommandContext
from ledger.errors import AlreadyDone, InvalidInput, NotFound, RuleViolation
from ledger.events import (
    Allocation,
    LedgerEvent,
    LineException,
    LineMatch,
    ReconciliationExceptionResolved,
    ReconciliationExceptionsRaised,
    ReconciliationRecorded,
    ResolutionAction,
    StatementImported,
    StatementLineRecord,
    StatementLinesMatched,
    StatementLinesRecorded,
)
from ledger.values import format_count, format_rp, require_not_before

NS_STATEMENT = uuid.UUID("3c1f6a52-8e0d-4b7a-9f21-5d6e7a8b9c0d")
NS_BOOK = uuid.UUID("7a4e2c19-0b3d-4f58-a6c7-e1d2f3a4b5c6")
CHUNK_LINES_MAX = 5_000
STATEMENT_LINES_MAX = 2_000_000


def statement_id_for(sha256_hex: str) -> uuid.UUID:
    return uuid.uuid5(NS_STATEMENT, sha256_hex)


def book_id_for(payer_id: str) -> uuid.UUID:
    return uuid.uuid5(NS_BOOK, payer_id)


def _chunks(items: Sequence[BaseModel], size: int = CHUNK_LINES_MAX) -> list[list[BaseModel]]:
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


class OpenException(BaseModel):
    kind: str
    amount_rp: int
    parked: bool = False
    since: date | None = None
    """The business day it was raised, or parked: a later resolution cannot be dated before it."""


class StatementState(BaseModel):
    statement_id: str = ""
    payer_id: str = ""
    line_count: int = 0
    total_rp: int = 0
    imported_on: date | None = None
    decided_lines: int = 0
    matched_rp: int = 0
    open_exceptions: dict[str, OpenException] = {}
    """Line number (as text) → an exception not yet matched by hand or written off."""
    closed_lines: list[int] = []
    """Exceptions resolved for good (matched by hand or written off)."""


class Statement(Aggregate[StatementState]):
    """One imported statement file of one payer, and what reconciliation decided about its lines."""

    state_type = StatementState

    @classmethod
    def record(
        cls,
        ctx: CommandContext,
        *,
        statement_id: str,
        payer_id: str,
        file_name: str,
        file_format: str,
        account: str | None,
        period_start: date,
        period_end: date,
        opening_rp: int | None,
        closing_rp: int | None,
        lines: Sequence[StatementLineRecord],
        on: date,
        existing: Statement | None = None,
    ) -> Statement:
        if existing is not None and existing.exists:
            earlier = existing.state
            how = "" if earlier.statement_id == statement_id else f" in file {earlier.statement_id[:12]}"
            raise AlreadyDone("file", f"statement {statement_id[:12]} was already imported{how} on "
                                      f"{earlier.imported_on} for {earlier.payer_id}; nothing recorded")
        if not lines:
            raise InvalidInput("file", "the statement has no credit lines; nothing to record")
        if len(lines) > STATEMENT_LINES_MAX:
            raise InvalidInput("file", f"more than {format_count(STATEMENT_LINES_MAX)} lines")
        if period_end < period_start:
            raise InvalidInput("period_end", f"{period_end} is before {period_start}")
        numbers = [line.line_no for line in lines]
        if len(set(numbers)) != len(numbers):
            raise InvalidInput("lines", "line numbers repeat")
        for line in lines:
            if not period_start <= line.booked_on <= period_end:
                raise InvalidInput(f"line {line.line_no}: date",
                                   f"{line.booked_on} is outside the statement period {period_start}..{period_end}")
            if line.amount_rp <= 0:
                raise InvalidInput(f"line {line.line_no}: amount", "must be a positive whole rupiah amount")
        agg = cls(statement_id_for(statement_id))
        agg._trigger(ctx, StatementImported, on, statement_id=statement_id, payer_id=payer_id, file_name=file_name,
                     file_format=file_format, account=account, period_start=period_start, period_end=period_end,
                     opening_rp=opening_rp, closing_rp=closing_rp, line_count=len(lines),
                     total_rp=sum(line.amount_rp for line in lines))
        for chunk in _chunks(lines):
            agg._trigger(ctx, StatementLinesRecorded, on, lines=chunk)
        return agg

    def record_decisions(
        self, ctx: CommandContext, matches: Sequence[LineMatch], exceptions: Sequence[LineException], on: date
    ) -> None:
        """What one run of the cascade decided for lines of this statement."""
        decided = len(matches) + len(exceptions)
        if self.state.decided_lines + decided > self.state.line_count:
            raise RuleViolation("statement", f"{self.state.statement_id[:12]}: more decisions than lines")
        before_rp = self.state.matched_rp
        for chunk in _chunks(matches):
            self._trigger(ctx, StatementLinesMatched, on, matches=chunk)
        for chunk in _chunks(exceptions):
            self._trigger(ctx, ReconciliationExceptionsRaised, on, exceptions=chunk)
        assert self.state.matched_rp == before_rp + sum(a.amount_rp for m in matches for a in m.allocations)

    def open_exception(self, line_no: int) -> OpenException:
        """The open exception of ``line_no``; refuses a resolved line or one without an exception."""
        if line_no in self.state.closed_lines:
            raise AlreadyDone("line_no", f"line {line_no} is already resolved")
        found = self.state.open_exceptions.get(str(line_no))
        if found is None:
            statement = self.state.statement_id[:12]
            raise NotFound("line_no", f"line {line_no} of statement {statement} has no open exception")
        return found

    def resolve(
        self, ctx: CommandContext, line_no: int, action: ResolutionAction, allocations: Sequence[Allocation],
        note: str, on: date,
    ) -> None:
        """An operator's decision on an open exception."""
        open_exception = self.open_exception(line_no)
        require_not_before(on, open_exception.since, f"line {line_no}'s exception was raised or last resolved")
        if not note.strip():
            raise InvalidInput("note", "say why (it goes into the audit trail)")
        if action is ResolutionAction.MATCH:
            total = sum(a.amount_rp for a in allocations)
            if not allocations or total != open_exception.amount_rp:
                raise RuleViolation("invoice", "a hand match allocates the whole line: "
                                               f"{format_rp(open_exception.amount_rp)} (allocated {format_rp(total)})")
        elif allocations:
            raise InvalidInput("invoice", f"{action} takes no invoice")
        if action is ResolutionAction.SUSPENSE and open_exception.parked:
            raise AlreadyDone("action", f"line {line_no} is already parked in suspense")
        self._trigger(ctx, ReconciliationExceptionResolved, on, line_no=line_no, action=action,
                      amount_rp=open_exception.amount_rp, allocations=list(allocations), note=note.strip())

    def apply(self, event: LedgerEvent) -> None:
        s = self.state
        if isinstance(event, StatementImported):
            s.statement_id = event.statement_id
            s.payer_id = event.payer_id
            s.line_count = event.line_count
            s.total_rp = event.total_rp
            s.imported_on = event.effective_on
        elif isinstance(event, StatementLinesRecorded):
            pass  # the lines live in the events; the state keeps counters only
        elif isinstance(event, StatementLinesMatched):
            s.decided_lines += len(event.matches)
            s.matched_rp += sum(a.amount_rp for m in event.matches for a in m.allocations)
        elif isinstance(event, ReconciliationExceptionsRaised):
            s.decided_lines += len(event.exceptions)
            s.open_exceptions = {**s.open_exceptions, **{
                str(e.line_no): OpenException(kind=e.kind, amount_rp=e.amount_rp, since=event.effective_on)
                for e in event.exceptions}}
        elif isinstance(event, ReconciliationExceptionResolved):
            key = str(event.line_no)
            if event.action is ResolutionAction.SUSPENSE:
                s.open_exceptions[key] = s.open_exceptions[key].model_copy(update={"parked": True,
                                                                                    "since": event.effective_on})
            else:
                s.open_exceptions = {k: v for k, v in s.open_exceptions.items() if k != key}
                s.closed_lines = [*s.closed_lines, event.line_no]
                s.matched_rp += sum(a.amount_rp for a in event.allocations)
        else:  # pragma: no cover - a new event type must be handled here
            raise TypeError(f"Statement cannot apply {type(event).__name__}")


class ReconciliationBookState(BaseModel):
    payer_id: str = ""
    runs: int = 0


class ReconciliationBook(Aggregate[ReconciliationBookState]):
    """One per payer: serialises the reconciliation decisions of that payer (see the module docstring)."""

    state_type = ReconciliationBookState

    def record(self, ctx: CommandContext, payer_id: str, what: str, lines: int, matched_rp: int, on: date) -> None:
        self._trigger(ctx, ReconciliationRecorded, on, payer_id=payer_id, what=what, lines=lines,
                      matched_rp=matched_rp)

    def apply(self, event: LedgerEvent) -> None:
        if isinstance(event, ReconciliationRecorded):
            self.state.payer_id = event.payer_id
            self.state.runs += 1
        else:  # pragma: no cover
            raise TypeError(f"ReconciliationBook cannot apply {type(event).__name__}")

"""Handlers for finance: billing, statement import, the reconciliation run, resolving exceptions, refunds.

Billing, the reconciliation run and resolving an exception decide on the read models
(``projections.money_views``): ``MoneyViews(ledger.store)`` runs the registers and the journal forward to the
log's head as it is at that call (committing view rows to the views database every process shares: a
command's catch-up serves later readers too) and records the position they then stand at. From that moment
the views may lag: an enrolment, a statement or a resolution written by another command after the catch-up is
not in them. The aggregates saved with the decision (the agreement; the payer's
:class:`~ledger.statement.ReconciliationBook`, its statements) conflict only with writes to themselves, and the
book and statements are loaded after the catch-up, so their versions do not see such a write.

Each of these handlers therefore also returns a :class:`~eventstore.store.LogGuard`: that position, the event
types that feed the view tables the decision read (``EXPECTED_INPUTS``, ``RECONCILIATION_INPUTS``) and which of
those events concern it (a bill: events on a member its agreement ever funded or on the agreement, and
enrolments or payer changes naming it; a run or a resolution for one payer: events on the payer's statements,
and statements imported or invoices issued for it; a run over every payer: all of them). ``execute`` saves the
decision with the guard; the store checks it inside the save's own transaction, under the events table's write
lock, and if such an event was written after the position the save raises ConcurrencyConflict and writes
nothing, and ``execute`` retries: the handler catches the views up again and re-decides on fresh data (up to
``commands.handlers.RETRIES_MAX`` attempts, then the caller gets ConcurrencyConflict "try again"). Other writes
(payments, command records, another agreement's enrolments, another payer's statements) never make a decision
retry. A sustained stream of enrolments into the agreement being billed can make the bill give up; it is never
saved with a count that misses one.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date
from typing import Any

import orjson

from commands.common import load_agreement, reserve_reference
from commands.matching import PayerLines, reconcile_payers
from commands.messages import BillAgreement, ImportStatement, ResolveException, RunReconciliation, SettleRefund
from eventstore.bootstrap import Ledger
from eventstore.store import LogGuard, Matters, topic_of
from ledger.aggregate import Aggregate, CommandContext
from ledger.agreement import Agreement, agreement_id_for
from ledger.billing import billing_block
from ledger.claim import Claim, claim_id_for
from ledger.errors import InvalidInput, LedgerError, NotFound, RuleViolation
from ledger.events import (
    AgreementBudgetAmended,
    AgreementClosed,
    AgreementSigned,
    Allocation,
    CoverageLapsed,
    InvoiceIssued,
    InvoiceLine,
    LedgerEvent,
    LineException,
    LineMatch,
    MemberDied,
    MemberEnrolled,
    PayerChanged,
    PersonalDataErased,
    ReconciliationExceptionResolved,
    ReconciliationExceptionsRaised,
    ResolutionAction,
    StatementImported,
    StatementLineRecord,
    StatementLinesMatched,
    StatementLinesRecorded,
)
from ledger.member import Member
from ledger.statement import ReconciliationBook, Statement, book_id_for, statement_id_for
from ledger.values import Period, format_rp
from projections.expected_members import expected_by_period, funded_member_ids
from projections.money_views import (
    MoneyViews,
    invoice_outstanding,
    known_transfers,
    new_lines,
    open_invoices,
    payers_with_new_lines,
    statement_by_prefix,
    statement_streams,
    window,
)

Result = dict[str, Any]
Handled = tuple[list[Aggregate[Any]], Result]
Guarded = tuple[list[Aggregate[Any]], Result, LogGuard]
"""What a handler deciding on the read models returns: its aggregates, its result and the guard to save with."""

EXPECTED_INPUTS: tuple[type[LedgerEvent], ...] = (
    AgreementSigned, AgreementBudgetAmended, AgreementClosed,  # the agreements row
    MemberEnrolled, PayerChanged, CoverageLapsed, MemberDied, PersonalDataErased,  # members, spells, segments
)
"""The events the registers apply to the tables ``expected_by_period`` reads (agreements, members, spells,
segments): a bill decided on them must not miss one written after its views caught up."""
RECONCILIATION_INPUTS: tuple[type[LedgerEvent], ...] = (
    InvoiceIssued,  # invoices (and their periods)
    StatementImported, StatementLinesRecorded,  # statements, statement lines
    StatementLinesMatched, ReconciliationExceptionsRaised, ReconciliationExceptionResolved,  # lines' status,
)                                                                                            # allocations
"""The events the journal applies to the tables the reconciliation run and a hand resolution read (statements,
statement lines and their status, invoices, allocations)."""


def guard(views: MoneyViews, inputs: tuple[type[LedgerEvent], ...], what: str, matters: Matters | None = None
          ) -> LogGuard:
    """The decision taken on ``views`` holds only if no event of ``inputs`` (for which ``matters``) comes after
    their position."""
    return LogGuard(views.position, inputs, what, matters)


def agreement_matters(code: str, members: Iterable[str]) -> Matters:
    """Could this event change what the registers say about the members of agreement ``code``? Yes if it is on
    a member ``code`` funded (or on the agreement), or enrols a member into it or moves one to it."""
    streams = {*members, str(agreement_id_for(code))}
    naming = {topic_of(MemberEnrolled), topic_of(PayerChanged)}

    def matters(aggregate_id: str, topic: str, state: bytes) -> bool:
        return aggregate_id in streams or (topic in naming and orjson.loads(state).get("agreement_code") == code)

    return matters


def payer_matters(payer_id: str, statements: Iterable[str]) -> Matters:
    """Could this event change what the journal says about payer ``payer_id``'s lines, invoices or allocations?
    Yes if it is on one of the payer's statements, or imports a statement or issues an invoice for the payer
    (an allocation to the payer's invoice is only ever decided on one of the payer's statements)."""
    streams = set(statements)
    naming = {topic_of(StatementImported), topic_of(InvoiceIssued)}

    def matters(aggregate_id: str, topic: str, state: bytes) -> bool:
        return aggregate_id in streams or (topic in naming and orjson.loads(state).get("payer_id") == payer_id)

    return matters


def bill_agreement(ledger: Ledger, cmd: BillAgreement, ctx: CommandContext, on: date) -> Guarded:
    """Invoice the block of periods (by cadence) that contains ``cmd.period``: expected members × tariff,
    counted on the registers; saved only if no enrolment, payer change, lapse or death came after them."""
    agreement = load_agreement(ledger, cmd.agreement_id)
    period = Period.parse(cmd.period, "period")
    if not agreement.covers_period(period):
        raise RuleViolation("period", f"{period} is outside {cmd.agreement_id}'s window "
                                      f"{agreement.first_period}..{agreement.last_period}")
    block = billing_block(agreement.first_period, agreement.last_period, agreement.state.billing_cadence, period)
    views = MoneyViews(ledger.store)
    row = views.agreement(cmd.agreement_id)
    periods = window(row)
    expected = expected_by_period(views, cmd.agreement_id, periods)
    lines = [InvoiceLine(period=str(p), members=expected[str(p)].members,
                         per_programme_rp=expected[str(p)].per_programme_rp, amount_rp=expected[str(p)].amount_rp)
             for p in block]
    projected_rp = sum(e.amount_rp for e in expected.values())
    issued = agreement.issue_invoice(ctx, lines, projected_rp, on)
    return [agreement], {
        "invoice": issued.invoice_ref, "agreement_id": cmd.agreement_id, "periods": issued.periods,
        "members": {line.period: line.members for line in lines}, "amount_rp": issued.amount_rp,
        "budget_rp": issued.budget_rp, "expected_window_rp": projected_rp, "budget_status": str(issued.budget_status),
    }, guard(views, EXPECTED_INPUTS, f"the bill of {cmd.agreement_id} for {cmd.period}",
             agreement_matters(cmd.agreement_id, funded_member_ids(views, cmd.agreement_id)))


def _payer_known(ledger: Ledger, payer_id: str) -> None:
    for row in ledger.store.snapshots_of_kind("Agreement"):
        agreement = row.aggregate(Agreement)
        if agreement.state.payer_id == payer_id:
            return
    raise NotFound("payer_id", f"no agreement has payer {payer_id}")


def import_statement(ledger: Ledger, cmd: ImportStatement, ctx: CommandContext, on: date) -> Handled:
    _payer_known(ledger, cmd.payer_id)
    existing = ledger.store.load(Statement, statement_id_for(cmd.statement_id))
    if not existing.exists and cmd.file_sha256 is not None:  # recorded whole, by the file's digest, before
        earlier = ledger.store.load(Statement, statement_id_for(cmd.file_sha256))
        existing = earlier if earlier.exists else existing
    statement = Statement.record(
        ctx, statement_id=cmd.statement_id, payer_id=cmd.payer_id, file_name=cmd.file_name,
        file_format=cmd.file_format, account=cmd.account, period_start=cmd.period_start, period_end=cmd.period_end,
        opening_rp=cmd.opening_rp, closing_rp=cmd.closing_rp,
        lines=[StatementLineRecord(**line.model_dump()) for line in cmd.lines], on=on, existing=existing)
    return [statement], {"statement": cmd.statement_id, "payer_id": cmd.payer_id, "lines": len(cmd.lines),
                         "total_rp": statement.state.total_rp, "period": f"{cmd.period_start}..{cmd.period_end}"}


def run_reconciliation(ledger: Ledger, cmd: RunReconciliation, ctx: CommandContext, on: date) -> Guarded:
    """The cascade over every new line of the payer(s); each match and each exception becomes an event. Saved
    only if no statement line, invoice or decision on a line came after the journal it read."""
    views = MoneyViews(ledger.store)
    payers = [cmd.payer_id] if cmd.payer_id else payers_with_new_lines(views)
    if cmd.payer_id:
        _payer_known(ledger, cmd.payer_id)
    touched: list[Aggregate[Any]] = []
    summary: dict[str, Any] = {"payers": {}, "matched": 0, "exceptions": 0, "matched_rp": 0}
    jobs: list[PayerLines] = []
    outstanding: list[dict[str, Any]] = []
    for payer_id in payers:
        fresh = new_lines(views, payer_id)
        if not fresh:
            continue
        outstanding.append(invoice_outstanding(views, payer_id))
        jobs.append(PayerLines(payer_id, fresh, open_invoices(views, payer_id), known_transfers(views, payer_id)))
    # reconcile once per payer, in process or, for many lines, on two cores (no GC passes meanwhile)
    for job, invoices, result in zip(jobs, outstanding, reconcile_payers(jobs, on=on), strict=True):
        payer_id, lines = job.payer_id, job.lines
        matches: dict[str, list[LineMatch]] = defaultdict(list)
        exceptions: dict[str, list[LineException]] = defaultdict(list)
        for m in result.matches:
            matches[m.line.statement_id].append(LineMatch(
                line_no=m.line.line_no, rule=m.rule, allocations=[
                    Allocation(invoice_ref=ref, agreement_code=invoices[ref]["agreement_code"], amount_rp=amount)
                    for ref, amount in zip(m.invoice_ids, m.allocations_rp, strict=True)]))
        for x in result.exceptions:
            exceptions[x.line.statement_id].append(LineException(
                line_no=x.line.line_no, kind=x.kind, reason=x.reason,
                amount_rp=x.line.amount_rp, candidate_invoice_refs=list(x.candidate_invoice_ids)))
        for statement_id in sorted(set(matches) | set(exceptions)):
            statement = ledger.store.load(Statement, statement_id_for(statement_id))
            statement.record_decisions(ctx, matches[statement_id], exceptions[statement_id], on)
            touched.append(statement)
        matched_rp = sum(sum(m.allocations_rp) for m in result.matches)
        book = ledger.store.load(ReconciliationBook, book_id_for(payer_id))
        book.record(ctx, payer_id, "run", len(lines), matched_rp, on)
        touched.append(book)
        summary["payers"][payer_id] = {"lines": len(lines), "matched": len(result.matches),
                                       "exceptions": len(result.exceptions), "matched_rp": matched_rp}
        summary["matched"] += len(result.matches)
        summary["exceptions"] += len(result.exceptions)
        summary["matched_rp"] += matched_rp
    if cmd.payer_id is None:  # decided over every payer: any line, invoice or decision written meanwhile counts
        return touched, summary, guard(views, RECONCILIATION_INPUTS, "the reconciliation run of every payer")
    return touched, summary, guard(views, RECONCILIATION_INPUTS, f"the reconciliation run of {cmd.payer_id}",
                                   payer_matters(cmd.payer_id, statement_streams(views, cmd.payer_id)))


def statement_payer(ledger: Ledger, statement_ref: str) -> str | None:
    """The payer of the statement with this SHA-256 (or unique prefix of it); None when there is none."""
    try:
        statement_id = statement_ref if len(statement_ref) == 64 else statement_by_prefix(MoneyViews(ledger.store),
                                                                                          statement_ref)
    except LedgerError:
        return None
    statement = ledger.store.load(Statement, statement_id_for(statement_id))
    return statement.state.payer_id if statement.exists else None


def resolve_exception(ledger: Ledger, cmd: ResolveException, ctx: CommandContext, on: date) -> Guarded:
    """Resolve one open exception (match by hand to invoices, park, write off); a hand match allocates what the
    journal says is still outstanding, so it is saved only if no allocation or invoice came after it."""
    views = MoneyViews(ledger.store)
    statement_id = statement_by_prefix(views, cmd.statement_id)
    statement = ledger.store.load(Statement, statement_id_for(statement_id))
    action = ResolutionAction(cmd.action)
    allocations: list[Allocation] = []
    if action is not ResolutionAction.MATCH and cmd.invoice_refs:
        raise InvalidInput("invoice", f"{action} takes no invoice")
    if action is ResolutionAction.MATCH:
        if not cmd.invoice_refs:
            raise InvalidInput("invoice", "a hand match names at least one invoice")
        invoices = invoice_outstanding(views, statement.state.payer_id)
        left = statement.open_exception(cmd.line_no).amount_rp
        for i, ref in enumerate(cmd.invoice_refs):
            invoice = invoices.get(ref)
            if invoice is None:
                raise NotFound("invoice", f"{ref} is not an invoice of payer {statement.state.payer_id}")
            if invoice["outstanding_rp"] <= 0:
                raise RuleViolation("invoice", f"{ref} is already paid in full")
            last = i == len(cmd.invoice_refs) - 1
            share = min(left, invoice["outstanding_rp"])
            if last and left > share:
                raise RuleViolation("invoice", f"{format_rp(left)} left over after {ref} (outstanding "
                                               f"{format_rp(invoice['outstanding_rp'])}); "
                                               "write the rest off or park it")
            if share:
                allocations.append(Allocation(invoice_ref=ref, agreement_code=invoice["agreement_code"],
                                              amount_rp=share))
            left -= share
    statement.resolve(ctx, cmd.line_no, action, allocations, cmd.note, on)
    book = ledger.store.load(ReconciliationBook, book_id_for(statement.state.payer_id))
    book.record(ctx, statement.state.payer_id, f"resolve {action}", 1, sum(a.amount_rp for a in allocations), on)
    return [statement, book], {"statement": statement_id, "line_no": cmd.line_no, "action": str(action),
                               "allocations": [a.model_dump() for a in allocations]}, guard(
        views, RECONCILIATION_INPUTS, f"resolving line {cmd.line_no} of statement {statement_id[:12]}",
        payer_matters(statement.state.payer_id, statement_streams(views, statement.state.payer_id)))


def settle_refund(ledger: Ledger, cmd: SettleRefund, ctx: CommandContext, on: date) -> Handled:
    claim = ledger.store.load(Claim, claim_id_for(cmd.claim_ref))
    if not claim.exists:
        raise NotFound("claim_ref", f"unknown claim {cmd.claim_ref}")
    assert claim.state.member_id is not None
    member = ledger.store.load(Member, claim.state.member_id)
    member.settle_refund(ctx, cmd.claim_ref, cmd.payer_id, cmd.amount_rp, cmd.payment_reference, on)
    reference = reserve_reference(ledger, ctx, cmd.payment_reference, cmd.payer_id, cmd.amount_rp, "refund", on)
    return [member, reference], {"claim_ref": cmd.claim_ref, "payer_id": cmd.payer_id, "amount_rp": cmd.amount_rp,
                                 "payment_reference": cmd.payment_reference}


MONEY_HANDLERS: dict[type, Any] = {
    BillAgreement: bill_agreement,
    ImportStatement: import_statement,
    RunReconciliation: run_reconciliation,
    ResolveException: resolve_exception,
    SettleRefund: settle_refund,
}

"""Handlers for finance: billing, statement import, the reconciliation run, resolving exceptions, refunds.

Billing and reconciliation decide on the read models (``projections.money_views``), caught up to the head
of the log inside the handler; the payer's :class:`~ledger.statement.ReconciliationBook` (and, for billing,
the agreement) is saved with the decision, so two concurrent runs for one payer conflict and the loser
re-decides on fresh data (``execute`` retries it).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Any

from commands.common import load_agreement, reserve_reference
from commands.messages import BillAgreement, ImportStatement, ResolveException, RunReconciliation, SettleRefund
from eventstore.bootstrap import Ledger
from ledger.aggregate import Aggregate, CommandContext
from ledger.agreement import Agreement
from ledger.billing import billing_block
from ledger.claim import Claim, claim_id_for
from ledger.errors import InvalidInput, LedgerError, NotFound, RuleViolation
from ledger.events import (
    Allocation,
    InvoiceLine,
    LineException,
    LineMatch,
    ResolutionAction,
    StatementLineRecord,
)
from ledger.member import Member
from ledger.reconciliation import reconcile
from ledger.statement import ReconciliationBook, Statement, book_id_for, statement_id_for
from ledger.values import Period, format_rp
from projections.money_views import (
    MoneyViews,
    expected_by_period,
    invoice_outstanding,
    known_transfers,
    new_lines,
    open_invoices,
    payers_with_new_lines,
    statement_by_prefix,
    window,
)
from projections.runner import gc_paused

Result = dict[str, Any]
Handled = tuple[list[Aggregate[Any]], Result]


def bill_agreement(ledger: Ledger, cmd: BillAgreement, ctx: CommandContext, on: date) -> Handled:
    """Invoice the block of periods (by cadence) that contains ``cmd.period``: expected members × tariff."""
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
    }


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


def run_reconciliation(ledger: Ledger, cmd: RunReconciliation, ctx: CommandContext, on: date) -> Handled:
    """The cascade over every new line of the payer(s); each match and each exception becomes an event."""
    views = MoneyViews(ledger.store)
    payers = [cmd.payer_id] if cmd.payer_id else payers_with_new_lines(views)
    if cmd.payer_id:
        _payer_known(ledger, cmd.payer_id)
    touched: list[Aggregate[Any]] = []
    summary: dict[str, Any] = {"payers": {}, "matched": 0, "exceptions": 0, "matched_rp": 0}
    for payer_id in payers:
        lines = new_lines(views, payer_id)
        if not lines:
            continue
        invoices = invoice_outstanding(views, payer_id)
        open_now, known = open_invoices(views, payer_id), known_transfers(views, payer_id)
        with gc_paused():  # a million lines allocate millions of small acyclic objects: no full collections
            result = reconcile(lines, open_now, payer_id=payer_id, known_transfers=known, on=on)
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
    return touched, summary


def statement_payer(ledger: Ledger, statement_ref: str) -> str | None:
    """The payer of the statement with this SHA-256 (or unique prefix of it); None when there is none."""
    try:
        statement_id = statement_ref if len(statement_ref) == 64 else statement_by_prefix(MoneyViews(ledger.store),
                                                                                          statement_ref)
    except LedgerError:
        return None
    statement = ledger.store.load(Statement, statement_id_for(statement_id))
    return statement.state.payer_id if statement.exists else None


def resolve_exception(ledger: Ledger, cmd: ResolveException, ctx: CommandContext, on: date) -> Handled:
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
                               "allocations": [a.model_dump() for a in allocations]}


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

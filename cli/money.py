"""`jamsos bill`, `reconcile` and `refund`: invoices, bank statements, exceptions, refunds."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from cli import render
from cli.common import (
    CommandIdOpt,
    JsonOpt,
    OnOpt,
    StoreOpt,
    build,
    console,
    current_actor,
    emit,
    fail,
    parse_date,
    parse_rupiah,
    run_command,
    with_ledger,
)
from cli.verbs import summary
from commands import bulk
from ledger.errors import (
    InvalidInput,
    LedgerError,
)

verbs = typer.Typer()
"""This module's root-level verbs (listed in :data:`cli.verbs.VERBS`)."""

reconcile_app = typer.Typer(help=summary("reconcile"))
refund_app = typer.Typer(help=summary("refund"))


@verbs.command()
def bill(
    agreement_id: Annotated[str, typer.Option("--agreement", help="Agreement to invoice.")],
    period: Annotated[str, typer.Option("--period", help="A month (YYYY-MM) of the block to bill: the "
                                        "agreement's cadence (monthly, semester, annual) decides the block.")],
    on: OnOpt = None, store: StoreOpt = None, as_json: JsonOpt = False, command_id: CommandIdOpt = None,
) -> None:
    """Issue an invoice: members expected in each month of the block × the tariff in force, per programme.
    Prints the budget status (WITHIN, WARNING at 80 %, OVER_BUDGET when the window's expected cost exceeds
    the budget)."""
    from commands.messages import BillAgreement

    run_command(store, build(BillAgreement, agreement_id=agreement_id, period=period, effective_on=parse_date(on),
                             command_id=command_id), as_json)


@reconcile_app.command("import")
def reconcile_import(
    file: Annotated[Path, typer.Argument(help="Statement file: .csv, .xlsx or MT940 (.sta/.mt940/.txt; one or "
                                         "several statements).")],
    payer_id: Annotated[str, typer.Option("--payer", help="The payer whose account the statement is.")],
    period_from: Annotated[str | None, typer.Option("--from", help="Statement period start, if the file "
                                                    "does not say (YYYY-MM-DD).")] = None,
    period_to: Annotated[str | None, typer.Option("--to", help="Statement period end (YYYY-MM-DD).")] = None,
    on: OnOpt = None, store: StoreOpt = None, as_json: JsonOpt = False, command_id: CommandIdOpt = None,
) -> None:
    """Record each statement of a file once (by its SHA-256: of the file for CSV/XLSX, of each statement's own
    text for MT940, so a statement delivered again in another file is recognised).

    The file is checked whole first: any bad line refuses it, naming statement, line and field, and nothing is
    recorded. Then every statement is listed with its lines and total: imported, already imported (refused,
    the others still import), or no credit lines.

    Exit codes: 0 when at least one statement was imported (and none failed); 3 when every statement was
    already imported (a rerun: nothing recorded); 2 for a bad file; if another error stops the run part-way,
    the statements imported before it are listed and the exit code is that error's; running the same file
    again resumes."""
    from commands.statement_file import read_statements
    from commands.statement_import import import_statement_file

    try:
        read = read_statements(file, period_start=parse_date(period_from, "from"),
                               period_end=parse_date(period_to, "to"))
    except LedgerError as err:
        fail(err)
        raise AssertionError from None  # pragma: no cover
    bulk.SHOW_PROGRESS = not as_json and sys.stderr.isatty()
    summary, failure = with_ledger(store, lambda ledger: import_statement_file(
        ledger, current_actor(ledger), read, payer_id, file.name, effective_on=parse_date(on), command_id=command_id))
    emit(summary, as_json, lambda v: render.render_statement_import(console, v))
    if failure is not None:
        fail(failure)


@reconcile_app.command("run")
def reconcile_run(
    payer_id: Annotated[str | None, typer.Option("--payer", help="Only this payer (default: every payer "
                                                 "with new lines).")] = None,
    on: OnOpt = None, store: StoreOpt = None, as_json: JsonOpt = False, command_id: CommandIdOpt = None,
) -> None:
    """Match new statement lines to open invoices: reference + amount, then amount within a date window, then
    one transfer for several invoices. Every match and every exception is recorded as an event."""
    from commands.messages import RunReconciliation

    run_command(store, build(RunReconciliation, payer_id=payer_id, effective_on=parse_date(on),
                             command_id=command_id), as_json)


@reconcile_app.command("resolve")
def reconcile_resolve(
    statement: Annotated[str, typer.Argument(help="Statement id (its SHA-256, or 8+ leading hex digits).")],
    line_no: Annotated[int, typer.Argument(help="Line number in the statement file.")],
    match: Annotated[list[str] | None, typer.Option("--match", help="Match by hand to this invoice "
                                                    "(repeat for several).")] = None,
    write_off: Annotated[bool, typer.Option("--write-off", help="Not a contribution: returned / booked "
                                            "elsewhere.")] = False,
    suspense: Annotated[bool, typer.Option("--suspense", help="Park in suspense (stays listed with its "
                                           "age).")] = False,
    note: Annotated[str, typer.Option("--note", help="Why (recorded in the audit trail).")] = "",
    on: OnOpt = None, store: StoreOpt = None, as_json: JsonOpt = False, command_id: CommandIdOpt = None,
) -> None:
    """Resolve an open exception with exactly one of --match INVOICE, --write-off, --suspense."""
    from commands.messages import ResolveException

    chosen = [a for a, flag in (("MATCH", bool(match)), ("WRITE_OFF", write_off), ("SUSPENSE", suspense)) if flag]
    if len(chosen) != 1:
        fail(InvalidInput("action", "give exactly one of --match INVOICE, --write-off, --suspense"))
    run_command(store, build(ResolveException, statement_id=statement.lower(), line_no=line_no, action=chosen[0],
                             invoice_refs=match or [], note=note, effective_on=parse_date(on),
                             command_id=command_id), as_json)


@refund_app.command("settle")
def refund_settle(
    claim_ref: Annotated[str, typer.Option("--claim", help="The death claim that made the refund due.")],
    payer_id: Annotated[str, typer.Option("--payer", help="The payer paid back.")],
    amount: Annotated[str, typer.Option("--amount", help="Whole rupiah, plain digits (the whole refund).")],
    reference: Annotated[str, typer.Option("--reference", help="Transfer reference of the refund.")],
    on: OnOpt = None, store: StoreOpt = None, as_json: JsonOpt = False, command_id: CommandIdOpt = None,
) -> None:
    """Record that a refund due after a death was paid back to its payer."""
    from commands.messages import SettleRefund

    run_command(store, build(SettleRefund, claim_ref=claim_ref, payer_id=payer_id,
                             amount_rp=parse_rupiah(amount, "amount_rp"), payment_reference=reference,
                             effective_on=parse_date(on), command_id=command_id), as_json)


"""`jamsos contribution`: pay one member or a whole cohort, and quote (iuran)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from cli.common import (
    CommandIdOpt,
    JsonOpt,
    OnOpt,
    StoreOpt,
    build,
    emit,
    fail,
    parse_date,
    parse_rupiah,
    read_with,
    run_command,
)
from cli.verbs import summary
from commands import bulk
from commands.messages import (
    Command,
    PayCohort,
    PayContribution,
)
from eventstore.bootstrap import Ledger
from ledger.errors import (
    InvalidInput,
)

contribution_app = typer.Typer(help=summary("contribution"))


@contribution_app.command("pay")
def contribution_pay(
    periods: Annotated[str, typer.Option(help="2026-01, or a range 2026-01..2026-03.")],
    amount: Annotated[str, typer.Option(help="Amount paid in whole rupiah; must equal the tariff.")],
    reference: Annotated[str, typer.Option(help="Payment reference (SP2D / transfer id), spent once.")],
    nik: Annotated[str | None, typer.Option(help="Pay one member.")] = None,
    agreement_id: Annotated[str | None, typer.Option("--agreement", help="Pay every active member of it.")] = None,
    payer_id: Annotated[str | None, typer.Option(help="Payer (checked against the member's).")] = None,
    on: OnOpt = None, store: StoreOpt = None, as_json: JsonOpt = False, command_id: CommandIdOpt = None,
) -> None:
    """Record a contribution payment for one member (--nik) or a whole cohort (--agreement)."""
    if (nik is None) == (agreement_id is None):
        fail(InvalidInput("nik", "give exactly one of --nik (one member) or --agreement (whole cohort)"))
    amount_rp = parse_rupiah(amount, "amount_rp")
    command: Command
    if nik is not None:
        command = build(PayContribution, nik=nik, periods=periods.split(","), amount_rp=amount_rp,
                        payment_reference=reference, payer_id=payer_id, effective_on=parse_date(on),
                        command_id=command_id)
    else:
        command = build(PayCohort, agreement_id=agreement_id, periods=periods.split(","), amount_rp=amount_rp,
                        payment_reference=reference, effective_on=parse_date(on), command_id=command_id)
    run_command(store, command, as_json)


@contribution_app.command("quote")
def contribution_quote(
    agreement_id: Annotated[str, typer.Option("--agreement", help="Agreement id.")],
    periods: Annotated[str, typer.Option(help="2026-01, or a range 2026-01..2026-03.")],
    on: OnOpt = None, store: StoreOpt = None, as_json: JsonOpt = False,
) -> None:
    """What paying these periods for the agreement's payable cohort would cost (writes nothing)."""
    from commands.messages import _parse_periods

    def go(ledger: Ledger) -> Any:
        return bulk.quote_cohort(ledger, agreement_id, _parse_periods(periods.split(",")), parse_date(on))

    emit(read_with(store, "contribution.quote", go, agreement_id=agreement_id), as_json)


# --- claims ---------------------------------------------------------------------------------------


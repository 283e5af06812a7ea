"""`jamsos agreement`: sign, show, amend a budget and confirm it (perjanjian pendanaan).

Light at import (as ``cli.reports``): `agreement show` takes the read-only path (``cli.light_read``) when it can,
so the write side (command messages, the event store) is imported only inside the verbs that need it."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from cli.common import (
    AsOfOpt,
    CommandIdOpt,
    JsonOpt,
    OnOpt,
    StoreOpt,
    build,
    choices,
    emit,
    get_console,
    parse_date,
    parse_rupiah,
    parse_timestamp,
    read_with,
    run_command,
)
from cli.verbs import summary
from ledger.values import BillingCadence, FundSource, PayerType, Programme

agreement_app = typer.Typer(help=summary("agreement"))


@agreement_app.command("sign")
def agreement_sign(
    agreement_id: Annotated[str, typer.Option("--id", help="Agreement id, e.g. SKW-RENTAN-2025.")],
    name: Annotated[str, typer.Option(help="Programme name.")],
    payer_id: Annotated[str, typer.Option(help="Payer id, e.g. PEMKOT-SKW.")],
    payer_type: Annotated[PayerType, typer.Option("--payer-type", metavar="PAYER_TYPE",
                                                  help=choices("Payer type.", PayerType))],
    fund_source: Annotated[FundSource, typer.Option("--fund-source", metavar="FUND_SOURCE",
                                                    help=choices("Fund source (sumber dana).", FundSource))],
    region: Annotated[str, typer.Option(help="Kemendagri region code, e.g. 61.72.")],
    first_period: Annotated[str, typer.Option(help="First covered month YYYY-MM.")],
    last_period: Annotated[str, typer.Option(help="Last covered month YYYY-MM.")],
    budget: Annotated[str, typer.Option(help="Budget ceiling in whole rupiah.")],
    payer_name: Annotated[str, typer.Option(help="Payer's name.")] = "",
    legal_basis: Annotated[str, typer.Option(help="Perwali / Perbup / MoU reference.")] = "",
    programme: Annotated[list[Programme] | None, typer.Option(
        "--programme", metavar="PROGRAMME", help=choices("Programmes bought (repeat).", Programme))] = None,
    cadence: Annotated[BillingCadence, typer.Option(
        "--cadence", metavar="CADENCE", help=choices("Billing cadence.", BillingCadence))] = BillingCadence.MONTHLY,
    cohort: Annotated[int, typer.Option(help="Planned cohort size.")] = 0,
    income: Annotated[str, typer.Option(help="Declared income basis (rupiah).")] = "1000000",
    on: OnOpt = None,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
    command_id: CommandIdOpt = None,
) -> None:
    """Record a funding agreement; the rate is taken from the tariff in force, never typed."""
    from commands.messages import SignAgreement

    command = build(
        SignAgreement,
        agreement_id=agreement_id, name=name, payer_id=payer_id, payer_name=payer_name, payer_type=payer_type,
        fund_source=fund_source, legal_basis=legal_basis, region_code=region, first_period=first_period,
        last_period=last_period, programmes=programme or None, declared_income_rp=parse_rupiah(income, "income"),
        billing_cadence=cadence, budget_rp=parse_rupiah(budget, "budget_rp"), cohort_planned=cohort,
        effective_on=parse_date(on), command_id=command_id,
    )
    run_command(store, command, as_json)


@agreement_app.command("amend-budget")
def agreement_amend_budget(
    agreement_id: Annotated[str, typer.Argument(help="Agreement id.")],
    budget: Annotated[str, typer.Option(help="New budget ceiling (rupiah).")],
    reason: Annotated[str, typer.Option(help="Why (e.g. APBD-P 2025).")],
    on: OnOpt = None, store: StoreOpt = None, as_json: JsonOpt = False, command_id: CommandIdOpt = None,
) -> None:
    """Amend the budget ceiling (an event; the old figure stays in history)."""
    from commands.messages import AmendBudget

    run_command(store, build(AmendBudget, agreement_id=agreement_id, budget_rp=parse_rupiah(budget, "budget_rp"),
                             reason=reason, effective_on=parse_date(on), command_id=command_id), as_json)


@agreement_app.command("show")
def agreement_show(
    agreement_id: Annotated[str, typer.Argument(help="Agreement id.")],
    on: OnOpt = None, as_of: AsOfOpt = None, store: StoreOpt = None, as_json: JsonOpt = False,
) -> None:
    """Show an agreement and its cohort: members enrolled, active and paid."""
    from cli.light_read import light_agreement

    view = light_agreement(store, agreement_id, on, as_of)
    if view is None:
        from projections.ledger_views import agreement_view

        view = read_with(store, "agreement.show", lambda ledger: agreement_view(
            ledger, agreement_id, parse_date(on), parse_timestamp(as_of)), agreement_id=agreement_id)
    emit(view, as_json, _render_agreement)


def _render_agreement(view: dict[str, Any]) -> None:
    from cli import render

    render.render_agreement(get_console(), view)


# --- members --------------------------------------------------------------------------------------


@agreement_app.command("confirm-budget")
def agreement_confirm_budget(
    agreement_id: Annotated[str, typer.Option("--agreement", help="Agreement id.")],
    budget: Annotated[str, typer.Option(help="The amount proposed, whole rupiah (what you confirm).")],
    on: OnOpt = None, store: StoreOpt = None, as_json: JsonOpt = False,
    command_id: CommandIdOpt = None,
) -> None:
    """Confirm a budget amendment above the four-eyes threshold (a budget owner other than the proposer)."""
    from commands.messages import ConfirmBudget

    run_command(store, build(ConfirmBudget, agreement_id=agreement_id, budget_rp=parse_rupiah(budget, "budget_rp"),
                             effective_on=parse_date(on), command_id=command_id), as_json)

"""`jamsos claim`: submit, approve, reject, pay (klaim)."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.common import (
    CommandIdOpt,
    JsonOpt,
    OnOpt,
    StoreOpt,
    build,
    choices,
    parse_date,
    parse_rupiah,
    run_command,
)
from cli.verbs import summary
from commands.messages import (
    ApproveClaim,
    PayClaim,
    RejectClaim,
    SubmitClaim,
)
from ledger.values import ClaimType, SchoolLevel

claim_app = typer.Typer(help=summary("claim"))


@claim_app.command("submit")
def claim_submit(
    claim_id: Annotated[str, typer.Option("--id", help="Claim id (unique).")],
    nik: Annotated[str, typer.Option(help="Member's NIK.")],
    claim_type: Annotated[ClaimType, typer.Option("--type", metavar="CLAIM_TYPE",
                                                  help=choices("Benefit claimed.", ClaimType))],
    event_date: Annotated[str, typer.Option(help="Date of death / accident / diagnosis (YYYY-MM-DD).")],
    income: Annotated[str | None, typer.Option(help="Declared income (default: the member's).")] = None,
    months_unable: Annotated[int, typer.Option(help="STMB: months unable to work.")] = 0,
    medical_cost: Annotated[str | None, typer.Option(help="Medical cost (rupiah).")] = None,
    home_care_cost: Annotated[str | None, typer.Option(help="Home care cost (rupiah).")] = None,
    home_care_days: Annotated[int, typer.Option(help="Home care days.")] = 0,
    school_level: Annotated[list[SchoolLevel] | None, typer.Option(
        "--school-level", metavar="LEVEL", help=choices("Scholarship: a level per child (repeat).", SchoolLevel)
    )] = None,
    death_claim_id: Annotated[str | None, typer.Option(help="Scholarship: the death claim it follows.")] = None,
    heir_name: Annotated[str | None, typer.Option(help="Heir's name (stored encrypted only).")] = None,
    on: OnOpt = None, store: StoreOpt = None, as_json: JsonOpt = False, command_id: CommandIdOpt = None,
) -> None:
    """Submit a claim; it is screened at once (covered, held in arrears, or rejected)."""
    command = build(
        SubmitClaim, claim_id=claim_id, nik=nik, claim_type=claim_type,
        event_date=parse_date(event_date, "event_date"),
        declared_income_rp=parse_rupiah(income, "declared_income_rp") if income else None,
        months_unable=months_unable,
        medical_cost_rp=parse_rupiah(medical_cost, "medical_cost_rp") if medical_cost else 0,
        home_care_cost_rp=parse_rupiah(home_care_cost, "home_care_cost_rp") if home_care_cost else 0,
        home_care_days=home_care_days, school_levels=school_level or [], death_claim_id=death_claim_id,
        heir_name=heir_name, effective_on=parse_date(on), command_id=command_id,
    )
    run_command(store, command, as_json)


@claim_app.command("approve")
def claim_approve(
    claim_id: Annotated[str, typer.Argument(help="Claim id.")],
    on: OnOpt = None, store: StoreOpt = None, as_json: JsonOpt = False, command_id: CommandIdOpt = None,
) -> None:
    """Approve: the amount is computed from the benefit table in force on the event date."""
    run_command(store, build(ApproveClaim, claim_id=claim_id, effective_on=parse_date(on), command_id=command_id),
                as_json)


@claim_app.command("reject")
def claim_reject(
    claim_id: Annotated[str, typer.Argument(help="Claim id.")],
    reason_code: Annotated[str, typer.Option(help="Short code, e.g. FRAUD, DOCUMENTS.")],
    reason: Annotated[str, typer.Option(help="Why.")],
    on: OnOpt = None, store: StoreOpt = None, as_json: JsonOpt = False, command_id: CommandIdOpt = None,
) -> None:
    """Reject a submitted or held claim with a reason."""
    run_command(store, build(RejectClaim, claim_id=claim_id, reason_code=reason_code, reason=reason,
                             effective_on=parse_date(on), command_id=command_id), as_json)


@claim_app.command("pay")
def claim_pay(
    claim_id: Annotated[str, typer.Argument(help="Claim id.")],
    reference: Annotated[str, typer.Option(help="Payment reference (spent once).")],
    on: OnOpt = None, store: StoreOpt = None, as_json: JsonOpt = False, command_id: CommandIdOpt = None,
) -> None:
    """Record the payout of an approved claim."""
    run_command(store, build(PayClaim, claim_id=claim_id, payment_reference=reference, effective_on=parse_date(on),
                             command_id=command_id), as_json)


# --- projections and audit ------------------------------------------------------------------------

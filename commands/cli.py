"""The `jamsos` command line. It only parses input into commands and calls :func:`commands.handlers.execute`.

Exit codes: 0 ok; 2 malformed input; 3 a business rule refused it (already paid, outside window...);
4 unknown agreement/member/claim; 5 command id reused with another payload; 6 concurrent change,
retry; 7 the audit chain is broken; 8 a check found a breach; 9 unauthenticated (no, unknown or revoked token);
10 forbidden (the role, the scope or a four-eyes rule); 1 anything unexpected.
Errors print one line: ``error: <field>: <reason>``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from commands import bulk, render
from commands.bootstrap import Ledger
from commands.cli_common import (
    SESSION,
    AsOfOpt,
    CommandIdOpt,
    JsonOpt,
    OnOpt,
    StoreOpt,
    build,
    choices,
    console,
    current_actor,
    emit,
    fail,
    one_line,
    parse_date,
    parse_rupiah,
    parse_timestamp,
    print_error,
    read_with,
    run_command,
    with_ledger,
)
from commands.cohort_file import read_cohort
from commands.handlers import execute
from commands.messages import (
    AmendBudget,
    ApproveClaim,
    CarryInJht,
    ChangePayer,
    Command,
    EnrolMember,
    ForgetMember,
    ImportCohort,
    PayClaim,
    PayCohort,
    PayContribution,
    RecordWorkforce,
    RejectClaim,
    SignAgreement,
    SubmitClaim,
    Sweep,
)
from eventstore.chain import ChainBroken
from ledger.errors import (
    InvalidInput,
    LedgerError,
    RuleViolation,
)
from ledger.text import spreadsheet_text
from ledger.values import BillingCadence, ClaimType, FundSource, PayerType, Programme, SchoolLevel
from projections.reports import REPORT_DESCRIPTIONS

try:  # typer >= 0.2x vendors click
    from typer._click import exceptions as click_exceptions
except ImportError:  # pragma: no cover - older typer uses click itself
    from click import exceptions as click_exceptions  # type: ignore[no-redef]

app = typer.Typer(
    name="jamsos",
    help="Event-sourced ledger of BPJS Ketenagakerjaan (BPU) cover paid by third parties: "
    "agreements, members, contributions, claims.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
agreement_app = typer.Typer(help="Funding agreements (perjanjian pendanaan): sign, show, amend budget.")
member_app = typer.Typer(help="Members (peserta): enrol, import a cohort, show, change payer, forget.")
contribution_app = typer.Typer(help="Contributions (iuran): pay one member or a whole cohort.")
claim_app = typer.Typer(help="Benefit claims (klaim): submit, approve, reject, pay.")
app.add_typer(agreement_app, name="agreement")
app.add_typer(member_app, name="member")
app.add_typer(contribution_app, name="contribution")
app.add_typer(claim_app, name="claim")

@app.callback()
def _principal(token: Annotated[str | None, typer.Option(
    "--token", envvar="JAMSOS_TOKEN", show_envvar=False,
    help="Act as the principal of this token (printed once by `jamsos principal add`; also JAMSOS_TOKEN). "
    "Without it the CLI acts as the server's operating-system user, local:<user>, role admin.")] = None) -> None:
    SESSION["token"] = token


# --- init / sweep ---------------------------------------------------------------------------------


@app.command()
def init(store: StoreOpt = None, as_json: JsonOpt = False) -> None:
    """Create the store, its key file (master key + pepper) and the member-key table."""

    def go(ledger: Ledger) -> dict[str, Any]:
        settings = ledger.store.settings
        return {
            "store": settings.url,
            "key_file": str(settings.default_key_file()) if settings.kind != "memory" else None,
            "keystore": settings.default_keystore_url().split("@")[-1],
            "events": ledger.store.max_notification_id(),
        }

    emit(with_ledger(store, go), as_json)


@app.command()
def sweep(
    on: OnOpt = None, store: StoreOpt = None, as_json: JsonOpt = False, command_id: CommandIdOpt = None,
) -> None:
    """Emit every lapse due by --on (ARREARS, FUNDING_ENDED). Running it again for the date emits nothing."""
    run_command(store, build(Sweep, effective_on=parse_date(on), command_id=command_id), as_json)


# --- agreements -----------------------------------------------------------------------------------


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
    run_command(store, build(AmendBudget, agreement_id=agreement_id, budget_rp=parse_rupiah(budget, "budget_rp"),
                             reason=reason, effective_on=parse_date(on), command_id=command_id), as_json)


@agreement_app.command("show")
def agreement_show(
    agreement_id: Annotated[str, typer.Argument(help="Agreement id.")],
    on: OnOpt = None, as_of: AsOfOpt = None, store: StoreOpt = None, as_json: JsonOpt = False,
) -> None:
    """Show an agreement and its cohort: members enrolled, active and paid."""
    from projections.ledger_views import agreement_view

    view = read_with(store, "agreement.show", lambda ledger: agreement_view(
        ledger, agreement_id, parse_date(on), parse_timestamp(as_of)), agreement_id=agreement_id)
    emit(view, as_json, lambda v: render.render_agreement(console, v))


# --- members --------------------------------------------------------------------------------------


@member_app.command("enrol")
def member_enrol(
    nik: Annotated[str, typer.Option(help="16-digit NIK.")],
    name: Annotated[str, typer.Option(help="Full name (stored encrypted only).")],
    region: Annotated[str, typer.Option(help="Kemendagri region code.")],
    role: Annotated[str, typer.Option(help="Occupation / role, e.g. PETANI, NELAYAN, KETUA_RT.")],
    agreement_id: Annotated[str | None, typer.Option("--agreement", help="Funding agreement; omit for self-paying.")]
    = None,
    village: Annotated[str | None, typer.Option(help="10-digit village code 61.07.01.2001.")] = None,
    birth_date: Annotated[str | None, typer.Option(help="YYYY-MM-DD (stored encrypted only).")] = None,
    address: Annotated[str | None, typer.Option(help="Address (stored encrypted only).")] = None,
    income: Annotated[str | None, typer.Option(help="Declared monthly income (rupiah).")] = None,
    programme: Annotated[list[Programme] | None, typer.Option(
        "--programme", metavar="PROGRAMME", help=choices("Programmes (repeat); default JKK+JKM.", Programme))] = None,
    on: OnOpt = None, store: StoreOpt = None, as_json: JsonOpt = False, command_id: CommandIdOpt = None,
) -> None:
    """Enrol one worker (the same NIK twice in an agreement is refused)."""
    command = build(
        EnrolMember, nik=nik, name=name, region_code=region, role=role, agreement_id=agreement_id,
        village_code=village, birth_date=parse_date(birth_date, "birth_date"), address=address,
        declared_income_rp=parse_rupiah(income, "declared_income_rp") if income else None,
        programmes=programme or None, effective_on=parse_date(on), command_id=command_id,
    )
    run_command(store, command, as_json)


@member_app.command("import")
def member_import(
    file: Annotated[Path, typer.Argument(help="CSV or XLSX: nik,name,birth_date,address,village_code,role,"
                                        "declared_income_rp")],
    agreement_id: Annotated[str, typer.Option("--agreement", help="Agreement the cohort is enrolled under.")],
    region: Annotated[str | None, typer.Option(help="Region code (default: the agreement's).")] = None,
    skip_invalid: Annotated[bool, typer.Option("--skip-invalid", help="Import the good rows; write rejects to a file.")]
    = False,
    rejects: Annotated[Path | None, typer.Option(help="Where --skip-invalid writes rejected rows (CSV).")] = None,
    strict: Annotated[bool, typer.Option("--strict", help="Refuse a file with a column (or values) not read.")]
    = False,
    on: OnOpt = None, store: StoreOpt = None, as_json: JsonOpt = False, command_id: CommandIdOpt = None,
) -> None:
    """Enrol a cohort from a file. Default: any bad row → nothing imported, every bad row listed."""
    try:
        read = read_cohort(file)
    except LedgerError as err:
        fail(err)
        return
    rows, invalid, digest = read.rows, read.invalid, read.digest
    if strict and read.warnings:  # a column not read: refused with --strict, else warned (docs/rules.md#text-input)
        fail(InvalidInput("file", f"{read.warnings[0]} (--strict)"))
    for warning in read.warnings:
        sys.stderr.write(f"warning: file: {one_line(warning)}\n")
    command = build(
        ImportCohort, agreement_id=agreement_id, region_code=region, rows=rows, invalid_rows=invalid,
        skip_invalid=skip_invalid, source_digest=digest, effective_on=parse_date(on),
        # derived from everything the import depends on: re-running the same import is a safe retry,
        # the same file with other options is a different command (whose rows then meet "already enrolled")
        command_id=command_id or f"import:{agreement_id}:{digest[:32]}:{on or '-'}:{region or '-'}:{int(skip_invalid)}",
    )
    bulk.SHOW_PROGRESS = not as_json and sys.stderr.isatty()
    result = with_ledger(store, lambda ledger: execute(ledger, command, current_actor(ledger)))
    # a replayed import returns the recorded result, where "rejected" is only a count: the rejects file
    # written by the first run stays as it is
    if skip_invalid and isinstance(result.get("rejected"), list) and result["rejected"]:
        target = rejects or file.with_name(file.stem + ".rejects.csv")
        with target.open("w", encoding="utf-8") as fh:
            fh.write("line,field,reason\n")
            for rej in result["rejected"]:
                reason = spreadsheet_text(str(rej["reason"])).replace('"', "'")
                fh.write(f'{rej["line"]},{rej["field"]},"{reason}"\n')
        result = {**result, "rejects_file": str(target)}
    emit({**result, "warnings": read.warnings} if read.warnings else result, as_json)


@member_app.command("show")
def member_show(
    nik: Annotated[str, typer.Argument(help="16-digit NIK.")],
    reveal: Annotated[bool, typer.Option("--reveal", help="Decrypt and show the personal data (role "
                                         "data-protection-officer; needs --purpose; written to the access log).")]
    = False,
    purpose: Annotated[str | None, typer.Option(help="With --reveal: why the personal data is needed (recorded).")]
    = None,
    on: OnOpt = None, as_of: AsOfOpt = None, store: StoreOpt = None, as_json: JsonOpt = False,
) -> None:
    """Show a member: chains, payers, periods paid, claims, refunds due (personal data only with --reveal)."""
    from commands.member_access import show_member

    if purpose is not None and not reveal:
        fail(InvalidInput("purpose", "only with --reveal"))
    if reveal and purpose is None:
        fail(InvalidInput("purpose", "--reveal needs --purpose: why the personal data is needed (it is recorded in "
                                     "the access log, UU 27/2022)"))
    day, as_of_t = parse_date(on), parse_timestamp(as_of)

    view = with_ledger(store, lambda ledger: show_member(ledger, current_actor(ledger), nik, day, as_of_t,
                                                         purpose=purpose if reveal else None), create=False)
    emit(view, as_json, lambda v: render.render_member(console, v))


@member_app.command("forget")
def member_forget(
    nik: Annotated[str, typer.Argument(help="16-digit NIK.")],
    reason: Annotated[str, typer.Option(help="Why (recorded, no personal data).")]
    = "data subject request (UU 27/2022)",
    on: OnOpt = None, store: StoreOpt = None, as_json: JsonOpt = False, command_id: CommandIdOpt = None,
) -> None:
    """Erase a member's personal data by destroying their key; every amount and count stays."""
    run_command(store, build(ForgetMember, nik=nik, reason=reason, effective_on=parse_date(on),
                             command_id=command_id), as_json)


@member_app.command("change-payer")
def member_change_payer(
    nik: Annotated[str, typer.Argument(help="16-digit NIK.")],
    from_period: Annotated[str, typer.Option(help="First month the new payer funds (YYYY-MM).")],
    agreement_id: Annotated[str | None, typer.Option("--agreement", help="New agreement; omit for self-paying.")]
    = None,
    on: OnOpt = None, store: StoreOpt = None, as_json: JsonOpt = False, command_id: CommandIdOpt = None,
) -> None:
    """Another payer (or the member) takes over from a month on."""
    run_command(store, build(ChangePayer, nik=nik, from_period=from_period, agreement_id=agreement_id,
                             effective_on=parse_date(on), command_id=command_id), as_json)


@member_app.command("carry-in-jht")
def member_carry_in_jht(
    nik: Annotated[str, typer.Argument(help="16-digit NIK.")],
    amount: Annotated[str, typer.Option(help="JHT balance brought in (rupiah).")],
    source: Annotated[str, typer.Option(help="Where it comes from (earlier KPJ, development returns).")],
    on: OnOpt = None, store: StoreOpt = None, as_json: JsonOpt = False, command_id: CommandIdOpt = None,
) -> None:
    """Record an old-age savings (JHT) balance brought in."""
    run_command(store, build(CarryInJht, nik=nik, amount_rp=parse_rupiah(amount, "amount_rp"), source=source,
                             effective_on=parse_date(on), command_id=command_id), as_json)


# --- contributions --------------------------------------------------------------------------------


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

project_app = typer.Typer(help="Read models (projections): run, status, rebuild.")
audit_app = typer.Typer(help="Tamper evidence: every event is linked into a hash chain when it is written. "
                        "verify, seal, prove, check-proof; and the audit trail.")
app.add_typer(project_app, name="project")
app.add_typer(audit_app, name="audit")


def _runners(ledger: Ledger, names: list[str] | None) -> list[Any]:
    from projections.registry import PROJECTIONS, projection
    from projections.runner import ProjectionRunner, views_engine

    engine = views_engine(ledger.store)
    return [ProjectionRunner(ledger.store, engine, projection(n)) for n in (names or sorted(PROJECTIONS))]


@project_app.command("run")
def project_run(
    name: Annotated[list[str] | None, typer.Argument(help="Projections to run (default: all).")] = None,
    follow: Annotated[bool, typer.Option("--follow", help="Keep running, polling for new events.")] = False,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Process every projection up to the head of the log (and keep going with --follow)."""
    from projections.runner import ProjectionFailed

    def go(ledger: Ledger) -> Any:
        from projections.runner import ProjectionGroup

        runners = _runners(ledger, name)
        group = ProjectionGroup(runners)  # one read of the log feeds every projection
        try:
            while True:
                done = group.catch_up()
                if not follow:
                    return {"applied": done, "status": [r.status() for r in runners]}
                if not any(done.values()):
                    import time

                    time.sleep(0.5)
        except ProjectionFailed as exc:
            fail(RuleViolation("projection", f"{exc.name} stopped at position {exc.position}: {exc.__cause__}"))

    emit(read_with(store, "project", go), as_json)


@project_app.command("status")
def project_status(store: StoreOpt = None, as_json: JsonOpt = False) -> None:
    """Position, lag behind the log's head and last error of each projection."""
    from commands.bulk import bulk_runs

    emit(read_with(store, "project", lambda ledger: {"projections": [r.status() for r in _runners(ledger, None)],
                                                     "bulk_in_progress": bulk_runs(ledger)}), as_json)


@project_app.command("rebuild")
def project_rebuild(
    name: Annotated[list[str] | None, typer.Argument(help="Projections to rebuild from position 0 (default: all).")]
    = None,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Rebuild into fresh tables while the current ones keep serving; switch when caught up. Several
    projections are rebuilt from one read of the log."""
    def go(ledger: Ledger) -> Any:
        from projections.runner import ProjectionGroup

        runners = _runners(ledger, name)
        applied = ProjectionGroup(runners).rebuild()
        return {"rebuilt": [r.name for r in runners], "applied": applied, "status": [r.status() for r in runners]}

    emit(read_with(store, "project", go), as_json)


@audit_app.command("verify")
def audit_verify(
    head: Annotated[str | None, typer.Option("--head", help="A head hash sealed earlier (jamsos audit seal; also a "
                                                            "head the audit projection sealed before the write-time "
                                                            "chain).")] = None,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Check every stored event against the hash chain, and the chain against itself, from the stored bytes
    alone (no read model needed); exit 7 naming each edited, removed or unchained position, each broken or
    removed chain row, or a sealed head the chain does not hold (history rewritten)."""
    from projections.chain_audit import verify

    result = read_with(store, "audit", lambda ledger: verify(ledger.store, head))
    emit(result, as_json)
    if not result["ok"]:
        sys.stderr.write(f"error: audit: {one_line(result['first_problem'])}\n")
        for more in result["findings"][1:]:
            sys.stderr.write(f"  {one_line(more)}\n")
        raise typer.Exit(7)


@audit_app.command("seal")
def audit_seal(store: StoreOpt = None, as_json: JsonOpt = False) -> None:
    """Print the chain's head (batch, last position, hash): keep it outside the system (a report, a letter);
    `verify --head HASH` then proves nothing before it was rewritten. Run `verify` first: a seal vouches only
    for a chain that verified."""
    from projections.chain_audit import seal

    emit(read_with(store, "audit", lambda ledger: seal(ledger.store)), as_json)


@audit_app.command("prove")
def audit_prove(
    position: Annotated[int, typer.Option("--position", help="The event's position in the log.")],
    head: Annotated[str | None, typer.Option("--head", help="End the proof at this sealed head (default: the "
                                                            "chain's head).")] = None,
    store: StoreOpt = None,
) -> None:
    """Print (JSON) an inclusion proof of one event: its identity and state digest, its leaf, the Merkle path to
    its batch's root, and the chain links from that batch to the head. `jamsos audit check-proof` (or
    `eventstore.chain.check_proof`) checks it without the store."""
    from projections.chain_audit import prove

    emit(read_with(store, "audit", lambda ledger: prove(ledger.store, position, head)), True)


@audit_app.command("check-proof")
def audit_check_proof(
    file: Annotated[Path, typer.Argument(help="A proof printed by `jamsos audit prove` (JSON).")],
    head: Annotated[str | None, typer.Option("--head", help="The head hash you sealed: the proof must end there.")]
    = None,
    state_file: Annotated[Path | None, typer.Option("--state-file", help="The event's stored bytes, to check "
                                                                         "against the proof's state digest.")]
    = None,
    as_json: JsonOpt = False,
) -> None:
    """Check an inclusion proof offline (no store needed); exit 7 naming the step that fails."""
    from eventstore.chain import InvalidProof, check_proof

    try:
        proof = json.loads(file.read_text())
        result = check_proof(proof, head, state_file.read_bytes() if state_file else None)
    except OSError as exc:
        fail(InvalidInput("file", f"cannot read: {exc.strerror or exc}"))
    except json.JSONDecodeError as exc:
        fail(InvalidInput("file", f"not JSON: {exc.msg} at line {exc.lineno}"))
    except InvalidProof as exc:
        fail(ChainBroken("proof", str(exc)))
    emit(result, as_json)


@audit_app.command("trail")
def audit_trail(
    nik: Annotated[str | None, typer.Option("--member", help="A member's NIK.")] = None,
    claim_id: Annotated[str | None, typer.Option("--claim", help="A claim id.")] = None,
    agreement_id: Annotated[str | None, typer.Option("--agreement", help="An agreement id.")] = None,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The audit rows of one member, claim or agreement (no personal data in clear)."""
    from ledger.agreement import agreement_id_for
    from ledger.claim import claim_id_for
    from ledger.identity import member_id_for, validate_nik
    from projections.audit import trail_rows
    from projections.runner import views_engine

    if sum(x is not None for x in (nik, claim_id, agreement_id)) != 1:
        fail(InvalidInput("member", "give exactly one of --member, --claim or --agreement"))

    def go(ledger: Ledger) -> Any:
        engine = views_engine(ledger.store)
        if nik is not None:
            ids = [str(member_id_for(ledger.keyring.secrets.pepper, validate_nik(nik)))]
            return {"rows": trail_rows(ledger.store, engine, aggregate_ids=ids)}
        if claim_id is not None:
            return {"rows": trail_rows(ledger.store, engine, aggregate_ids=[str(claim_id_for(claim_id))])}
        assert agreement_id is not None
        own = trail_rows(ledger.store, engine, aggregate_ids=[str(agreement_id_for(agreement_id))])
        return {"rows": own + trail_rows(ledger.store, engine, subject=agreement_id)}

    emit(read_with(store, "audit", go), as_json)


region_app = typer.Typer(help="Regions: workforce figures for UCJ coverage.")
app.add_typer(region_app, name="region")


@region_app.command("workforce")
def region_workforce(
    region: Annotated[str, typer.Option(help="Kemendagri region code, e.g. 61.71.")],
    workers: Annotated[int, typer.Option(help="Working population (people).")],
    source: Annotated[str, typer.Option(help="Where the figure comes from, e.g. BPS Sakernas 2025.")],
    on: OnOpt = None, store: StoreOpt = None, as_json: JsonOpt = False, command_id: CommandIdOpt = None,
) -> None:
    """Record a region's working population from --on (the denominator of UCJ coverage)."""
    run_command(store, build(RecordWorkforce, region_code=region, workforce=workers, source=source,
                             effective_on=parse_date(on), command_id=command_id), as_json)


REPORTS_HELP = (
    "A report from the read models: --on for business time, --as-of for what was recorded by then.\n\n"
    + "\n".join(f"{name}: {text}." for name, text in REPORT_DESCRIPTIONS.items())
)


@app.command(help=REPORTS_HELP)
def report(
    name: Annotated[str, typer.Argument(metavar="NAME", help=f"One of: {', '.join(REPORT_DESCRIPTIONS)}.")],
    agreement_id: Annotated[str | None, typer.Option("--agreement", help="Only this agreement.")] = None,
    period: Annotated[str | None, typer.Option("--period", help="reconciliation: only this month (YYYY-MM).")]
    = None,
    csv_dir: Annotated[Path | None, typer.Option(
        "--csv", metavar="DIR", help="Also write CSV files into DIR (created if missing): <report>.<section>.csv "
        "per section and <report>.totals.csv, one header row each, UTF-8; files of those names are replaced.")]
    = None,
    xlsx_file: Annotated[Path | None, typer.Option(
        "--xlsx", metavar="FILE", help="Also write an XLSX workbook FILE.xlsx: totals, then a sheet per section.")]
    = None,
    section: Annotated[str | None, typer.Option(
        "--section", metavar="NAME", help="Print only this section (or 'totals') as CSV instead of the tables.")]
    = None,
    on: OnOpt = None,
    as_of: AsOfOpt = None,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """A report from the read models (its help, with every report described, is ``REPORTS_HELP``)."""
    from projections.export import section_csv, section_names
    from projections.reports import build_report

    check_export_paths(csv_dir, xlsx_file)
    if section is not None and as_json:
        fail(InvalidInput("section", "prints CSV: it cannot be combined with --json"))

    def go(ledger: Ledger) -> Any:
        return build_report(ledger.store, name, parse_date(on), parse_timestamp(as_of), ledger.clock.now(),
                            agreement_id, period)

    result = read_with(store, f"report.{name}" if name in REPORT_DESCRIPTIONS else "report.members", go,
                       agreement_id=agreement_id)
    if section is not None and section not in section_names(result):
        fail(InvalidInput("section", f"the {name} report has no section {section!r}; "
                                     f"known: {', '.join(section_names(result))}"))
    write_exports(result, csv_dir, xlsx_file)
    if section is not None:
        sys.stdout.write(section_csv(result, section))
        return
    emit(result, as_json, lambda v: render.render_report(console, v))


def check_export_paths(csv_dir: Path | None, xlsx_file: Path | None) -> None:
    """Refuse export paths that cannot work before building the report (which writes nothing either)."""
    if csv_dir is not None:
        if csv_dir.exists() and not csv_dir.is_dir():
            fail(InvalidInput("csv", f"{csv_dir} is a file: --csv takes a directory (one CSV file per section)"))
        if not csv_dir.exists() and csv_dir.suffix.lower() == ".csv":
            fail(InvalidInput("csv", f"{csv_dir} looks like a file name: --csv takes a directory "
                                     "(one CSV file per section)"))
    if xlsx_file is not None:
        if xlsx_file.suffix.lower() != ".xlsx":
            fail(InvalidInput("xlsx", f"{xlsx_file}: the file name must end in .xlsx"))
        if xlsx_file.is_dir():
            fail(InvalidInput("xlsx", f"{xlsx_file} is a directory"))
        if not xlsx_file.parent.is_dir():
            fail(InvalidInput("xlsx", f"directory {xlsx_file.parent} does not exist"))


def write_exports(result: dict[str, Any], csv_dir: Path | None, xlsx_file: Path | None) -> None:
    from projections.export import write_csv, write_xlsx

    for field, target, write in (("csv", csv_dir, write_csv), ("xlsx", xlsx_file, write_xlsx)):
        if target is None:
            continue
        try:
            write(result, target)
        except OSError as exc:
            fail(InvalidInput(field, f"cannot write {exc.filename or target}: {exc.strerror or exc}"))


# --- money: billing, reconciliation, refunds, checks ---------------------------------------------

reconcile_app = typer.Typer(help="Payer bank statements (rekening koran): import, match to invoices, resolve.")
refund_app = typer.Typer(help="Contributions owed back to payers after a death: settle.")
app.add_typer(reconcile_app, name="reconcile")
app.add_typer(refund_app, name="refund")


@app.command()
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


@app.command()
def check(
    max_age_days: Annotated[int | None, typer.Option("--max-age-days", min=0, help="Open payables and suspense "
                                                     "items older than this are breaches too.")] = None,
    on: OnOpt = None, store: StoreOpt = None, as_json: JsonOpt = False,
) -> None:
    """Verify the journal: trial balance sums to zero, every entry balanced with two or more legs; list every
    unsettled claims-payable / refunds-payable entry, suspense item and clearing balance with its age.
    Exit 8 on a breach."""
    from projections.money_views import MoneyViews, checks
    from projections.reports import report_day

    def go(ledger: Ledger) -> Any:
        day = report_day(ledger.clock.now(), parse_date(on), None).on
        return checks(MoneyViews(ledger.store), day, max_age_days)

    result = read_with(store, "check", go)
    emit(result, as_json, lambda v: render.render_check(console, v))
    if not result["ok"]:
        raise typer.Exit(8)


# --- demo -----------------------------------------------------------------------------------------


@app.command()
def demo(
    store: Annotated[str, typer.Option("--store", help="A fresh store for the demo: a SQLite file that does not "
                                       "exist yet, or a PostgreSQL URL (postgresql://user@host:port/db[?schema=name]) "
                                       "of an empty database or schema.")] = "jamsos.db",
    scale: Annotated[float, typer.Option(help="Cohort scale (1.0 = the seed figures).")] = 1.0,
    as_json: JsonOpt = False,
) -> None:
    """Load the seed schemes (docs/rules.md#seed-scenarios) and play them month by month on a simulated clock."""
    from commands.clock import SystemClock
    from commands.demo import DEMO_END, run_demo
    from projections.reports import build_report

    try:
        summary = run_demo(store, scale=scale, quiet=as_json)
    except LedgerError as err:
        fail(err)
        return

    def reports(ledger: Ledger) -> dict[str, Any]:
        from commands.demo import SCHEMES

        now = SystemClock().now()
        out = {name: build_report(ledger.store, name, DEMO_END, None, now)
               for name in ("members", "balances", "claims", "coverage", "trial-balance")}
        for scheme in SCHEMES:
            out[f"reconciliation {scheme.code}"] = build_report(ledger.store, "reconciliation", DEMO_END, None, now,
                                                                scheme.code)
        return out

    if not as_json:
        console.print("\nThe reports, from the read models (caught up to the head of the log) ...")
    summary["reports"] = with_ledger(store, reports, create=False)

    def show(v: dict[str, Any]) -> None:
        render.render_demo(console, v)
        for one in v["reports"].values():
            render.render_report(console, one)

    emit(summary, as_json, show)


from commands import cli_broker, cli_principals  # noqa: E402  (broker services; principals, four eyes)

cli_broker.register(app)
cli_principals.register(app, agreement_app)
from commands.cli_keys import keys_app  # noqa: E402  (keys status / rotate)

app.add_typer(keys_app, name="keys")
from commands.cli_bulk import bulk_app  # noqa: E402  (bulk commands in progress)

app.add_typer(bulk_app, name="bulk")


def main() -> None:
    """Run the CLI. Usage errors (missing option, unknown choice) also print one ``error: <field>: <reason>``."""
    try:
        code = app(standalone_mode=False)
    except click_exceptions.NoArgsIsHelpError as exc:  # bare `jamsos`: the help (typer may have printed it)
        if exc.format_message().strip():
            exc.show()
        sys.exit(exc.exit_code)
    except click_exceptions.ClickException as exc:
        param = getattr(exc, "param", None)
        field = param.name if param is not None and param.name else "usage"
        print_error(field, f"{exc.format_message()} (see --help)")
        sys.exit(exc.exit_code)
    except typer.Abort:
        print_error("command", "aborted")
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()

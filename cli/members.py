"""`jamsos member`: enrol, import a cohort, show, change payer, carry in JHT, forget (peserta)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from cli import render
from cli.common import (
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
    parse_date,
    parse_rupiah,
    parse_timestamp,
    run_command,
    with_ledger,
)
from cli.errors import one_line
from cli.verbs import summary
from commands import bulk
from commands.cohort_file import read_cohort
from commands.handlers import execute
from commands.messages import (
    CarryInJht,
    ChangePayer,
    EnrolMember,
    ForgetMember,
    ImportCohort,
)
from ledger.errors import (
    InvalidInput,
    LedgerError,
)
from ledger.text import spreadsheet_text
from ledger.values import Programme

member_app = typer.Typer(help=summary("member"))


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


"""`jamsos principal …`: who may act (the second pair of eyes on a budget: `jamsos agreement confirm-budget`).

A token is made here, printed once and never stored: the command carries only its SHA-256. A web password is read
here (hidden, asked twice, or one line of standard input), hashed with argon2id and never printed: the command
carries only its hash (docs/rules.md#principals).
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from cli import render
from cli.common import (
    AsOfOpt,
    CommandIdOpt,
    JsonOpt,
    StoreOpt,
    build,
    console,
    current_actor,
    emit,
    fail,
    parse_date,
    parse_timestamp,
    read_with,
    run_command,
    with_ledger,
)
from cli.verbs import summary
from commands.authorise import new_token
from commands.messages import (
    AddPrincipal,
    RevokePrincipal,
    RotatePrincipalToken,
    SetPrincipalPassword,
)
from commands.passwords import PASSWORD_LEN_MAX, PASSWORD_LEN_MIN, hash_password
from eventstore.bootstrap import Ledger
from ledger.errors import InvalidInput
from ledger.values import Role

principal_app = typer.Typer(help=summary("principal"))

RoleOpt = Annotated[list[Role], typer.Option("--role", metavar="ROLE", help="A role (repeat for several). One of: "
                                             + ", ".join(r.value for r in Role) + ".")]
ExpiresOpt = Annotated[str | None, typer.Option(
    "--expires-on", help="The token's last valid day YYYY-MM-DD (at most 400 days ahead). Default: no expiry, until "
    "it is rotated or the principal revoked.")]
ScopeOpt = Annotated[str, typer.Option("--scope", help="all, payer:<payer id> (e.g. payer:PEMKOT-SKW) or "
                                       "region:<code> (e.g. region:61.72).")]


@principal_app.command("add")
def principal_add(
    name: Annotated[str, typer.Argument(help="Lower-case name, e.g. siti.bpkad-skw or svc-dashboard.")],
    role: RoleOpt,
    scope: ScopeOpt = "all",
    description: Annotated[str, typer.Option(help="Who this is (no personal data needed).")] = "",
    expires_on: ExpiresOpt = None,
    store: StoreOpt = None, as_json: JsonOpt = False, command_id: CommandIdOpt = None,
) -> None:
    """Add a principal; its token is printed ONCE (only a hash is kept). Give it to its holder safely."""
    token, digest = new_token(name)
    _run_with_token(store, build(AddPrincipal, name=name, roles=role, scope=scope, description=description,
                                     token_sha256=digest, token_expires_on=parse_date(expires_on, "token_expires_on"),
                                     command_id=command_id), token, as_json)

@principal_app.command("rotate-token")
def principal_rotate(
    name: Annotated[str, typer.Argument(help="The principal.")],
    expires_on: ExpiresOpt = None,
    store: StoreOpt = None, as_json: JsonOpt = False, command_id: CommandIdOpt = None,
) -> None:
    """Replace a principal's token (the old one stops working at once); the new one is printed ONCE."""
    token, digest = new_token(name)
    _run_with_token(store, build(RotatePrincipalToken, name=name, token_sha256=digest,
                                     token_expires_on=parse_date(expires_on, "token_expires_on"),
                                     command_id=command_id), token, as_json)

@principal_app.command("set-password", help=(
    "Set (or replace) a principal's web password; only its argon2id hash is kept, and it is never shown. The "
    f"password: {PASSWORD_LEN_MIN} to {PASSWORD_LEN_MAX} characters, neither the name nor containing it, not one "
    "character repeated."))
def principal_set_password(
    name: Annotated[str, typer.Argument(help="The principal.")],
    password_stdin: Annotated[bool, typer.Option(
        "--password-stdin", help="Read the password from one line of standard input (scripts) instead of asking "
        "twice with hidden input.")] = False,
    store: StoreOpt = None, as_json: JsonOpt = False, command_id: CommandIdOpt = None,
) -> None:
    password = _read_password(password_stdin)
    try:
        digest = hash_password(password, name)
    except InvalidInput as err:
        fail(err)
    run_command(store, build(SetPrincipalPassword, name=name, password_argon2=digest, command_id=command_id),
                as_json)
    if not as_json:
        sys.stderr.write(f"The password of {name} is set; it is not stored, only its hash: it cannot be shown.\n")



def _read_password(from_stdin: bool) -> str:
    if not from_stdin:
        return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))
    line = sys.stdin.readline()
    if not line:
        fail(InvalidInput("password", "nothing on standard input (--password-stdin reads one line)"))
    return line.removesuffix("\n").removesuffix("\r")

@principal_app.command("revoke")
def principal_revoke(
    name: Annotated[str, typer.Argument(help="The principal.")],
    reason: Annotated[str, typer.Option(help="Why (recorded).")],
    store: StoreOpt = None, as_json: JsonOpt = False, command_id: CommandIdOpt = None,
) -> None:
    """Revoke a principal: its token stops working at once; the name is never reused."""
    run_command(store, build(RevokePrincipal, name=name, reason=reason, command_id=command_id), as_json)

@principal_app.command("list")
def principal_list(
    as_of: AsOfOpt = None, store: StoreOpt = None, as_json: JsonOpt = False,
) -> None:
    """Every principal with its roles and scope, who added it, when, and whether it is revoked (no tokens)."""
    from projections.access import principals

    as_of_t = parse_timestamp(as_of)
    rows = read_with(store, "principal.list", lambda ledger: principals(ledger.store, as_of_t))
    emit({"principals": rows}, as_json, lambda v: render.render_rows(console, v["principals"]))

def _run_with_token(store: str | None, command: Any, token: str, as_json: bool) -> None:
    """Run the command; show the token only when this run recorded it (a replay recorded nothing new)."""
    from commands.handlers import execute

    def go(ledger: Ledger) -> Any:
        return execute(ledger, command, current_actor(ledger))

    result = dict(with_ledger(store, go))
    if result.get("replayed"):
        result["token"] = None
        sys.stderr.write("note: this command id was already run: its token was shown then and cannot be shown "
                         "again; use `jamsos principal rotate-token` for a new one\n")
    else:
        result["token"] = token
        if not as_json:
            sys.stderr.write("The token is shown once and is not stored: keep it in a secret store.\n")
    emit(result, as_json)

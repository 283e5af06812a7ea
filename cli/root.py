"""The root `jamsos` command and who is acting; each verb group registers itself on :data:`app`."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.common import SESSION

app = typer.Typer(
    name="jamsos",
    help="Event-sourced ledger of BPJS Ketenagakerjaan (BPU) cover paid by third parties: "
    "agreements, members, contributions, claims.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def _principal(token: Annotated[str | None, typer.Option(
    "--token", envvar="JAMSOS_TOKEN", show_envvar=False,
    help="Act as the principal of this token (printed once by `jamsos principal add`; also JAMSOS_TOKEN). "
    "Without it the CLI acts as the server's operating-system user, local:<user>, role admin.")] = None) -> None:
    SESSION["token"] = token

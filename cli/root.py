"""The root `jamsos` command and who is acting. Its verbs load on demand from :data:`cli.verbs.VERBS`: the root
help lists them from the index, and a command imports only its own module."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from typer.core import TyperCommand, TyperGroup

from cli.verbs import VERBS

SESSION: dict[str, str | None] = {"token": None}
"""Who is acting: the ``--token`` of this invocation (read by :func:`cli.common.current_actor`)."""


class VerbGroup(TyperGroup):
    """The root group: its verbs are the entries of :data:`cli.verbs.VERBS`, each built from its module the first
    time it is looked up to run. While the root help is being written, a verb not yet loaded stands in as a bare
    command carrying its summary, so listing the verbs imports none of them."""

    _listing = False

    def list_commands(self, ctx: Any) -> list[str]:
        return [*VERBS, *(name for name in self.commands if name not in VERBS)]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        verb = VERBS.get(cmd_name)
        if verb is None:
            return None
        if self._listing:
            return TyperCommand(cmd_name, short_help=verb.summary, help=verb.summary)
        command = verb.load(cmd_name)
        self.commands[cmd_name] = command
        return command

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False


app = typer.Typer(
    cls=VerbGroup,
    name="jamsos",
    help="Event-sourced ledger of BPJS Ketenagakerjaan (BPU) cover paid by third parties: "
    "agreements, members, contributions, claims.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # the root help in click's plain layout: typer's rich one imports ~90 ms more
)


@app.callback()
def _principal(token: Annotated[str | None, typer.Option(
    "--token", envvar="JAMSOS_TOKEN", show_envvar=False,
    help="Act as the principal of this token (printed once by `jamsos principal add`; also JAMSOS_TOKEN). "
    "Without it the CLI acts as the server's operating-system user, local:<user>, role admin.")] = None) -> None:
    SESSION["token"] = token


def subcommands(command: Any) -> dict[str, Any]:
    """Every subcommand of a click group by name, loaded (the root's verbs included), for what walks the command
    tree: the help and compose checks. A command that is not a group has none."""
    if not hasattr(command, "list_commands"):
        return {}
    from typer._click import Context

    ctx = Context(command)
    return {name: command.get_command(ctx, name) for name in command.list_commands(ctx)}

"""What every `jamsos` command shares: options, parsing, errors, output, and who is acting.

Commands print one line per refusal (``error: <field>: <reason>``) and exit with the code of the error's kind
(``LedgerError.exit_code``); a command is run as the principal of ``--token`` / ``JAMSOS_TOKEN`` or as the server's
operating-system user (:func:`current_actor`).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import date, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli.errors import one_line, print_error
from cli.root import SESSION
from ledger.business_time import parse_day, parse_instant
from ledger.errors import (
    InvalidInput,
    LedgerError,
)
from ledger.escapes import json_escaped

if TYPE_CHECKING:
    from rich.console import Console

    from commands.authorise import Actor
    from commands.messages import Command
    from eventstore.bootstrap import Ledger

# Light at import (docs: cli/light_read.py): the write side (commands, the event store, pydantic) and rich are
# imported by the functions that use them, so a report read on the light path loads none of them.

_CONSOLE: list[Console] = []


def get_console() -> Console:
    """The terminal console every verb prints tables on (made on first use: rich costs ~20 ms to import)."""
    if not _CONSOLE:
        from rich.console import Console

        _CONSOLE.append(Console(width=None if sys.stdout.isatty() else 160))
    return _CONSOLE[0]


def __getattr__(name: str) -> Any:
    """``console`` (``from cli.common import console``) is made when first asked for."""
    if name == "console":
        return get_console()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

StoreOpt = Annotated[
    str | None,
    typer.Option("--store", envvar="JAMSOS_STORE", help="Store: a SQLite file (default ./jamsos.db) or postgresql://..."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
CommandIdOpt = Annotated[
    str | None, typer.Option("--command-id", help="Idempotency key: a retry with the same id returns the first result.")
]
OnOpt = Annotated[str | None, typer.Option(
    "--on", help="Business date YYYY-MM-DD: a command's effective day, a report's 'as the business stood on'. Default: "
    "today in the zone of the region concerned (WIB, WITA or WIT; national: WIB). A future date is refused.")]
AsOfOpt = Annotated[
    str | None, typer.Option("--as-of", help="Recorded-time cut-off (ISO timestamp): only events recorded by then.")
]


def choices(what: str, enum: type[StrEnum]) -> str:
    """Help text naming an enum option's choices. The option's metavar is a short name instead of the choice list:
    rich folds a metavar without spaces anywhere (``JK`` / ``K_DISABILITY``), while help text wraps between words."""
    return f"{what} One of: {', '.join(member.value for member in enum)}."


def fail(err: LedgerError) -> None:
    code = err.exit_code  # by its kind: ledger.errors, eventstore.chain.ChainBroken
    print_error(err.field, err.reason)
    bulk = sys.modules.get("commands.bulk")  # an ImportRejected comes from there: loaded if it was raised
    if bulk is not None and isinstance(err, bulk.ImportRejected):
        for row in err.errors:
            sys.stderr.write(f"  {one_line(row)}\n")
    for detail in getattr(err, "details", ()):  # e.g. each statement of a file already imported
        sys.stderr.write(f"  {one_line(detail)}\n")
    sys.stderr.flush()
    raise typer.Exit(code)


def parse_date(text: str | None, field: str = "on") -> date | None:
    try:
        return parse_day(text, field)
    except InvalidInput as err:
        fail(err)
    raise AssertionError  # pragma: no cover


def parse_timestamp(text: str | None, field: str = "as_of") -> datetime | None:
    try:
        return parse_instant(text, field)
    except InvalidInput as err:
        fail(err)
    raise AssertionError  # pragma: no cover


RUPIAH_DIGITS_MAX = 16
"""Longer than any amount the commands accept (their ceiling is 10**15), short enough for int()."""


def parse_rupiah(text: str, field: str) -> int:
    """Whole rupiah as plain digits: '16800'. '16.800', '16,800', '16800.5', '-1' are refused."""
    cleaned = text.strip()
    # isascii: str.isdigit() also accepts '²' or '١', which int() then refuses or reads unexpectedly
    if not (cleaned.isascii() and cleaned.isdigit()):
        fail(InvalidInput(field, f"must be whole rupiah as plain digits (e.g. 16800), got {text!r}"))
    if len(cleaned.lstrip("0")) > RUPIAH_DIGITS_MAX:
        fail(InvalidInput(field, f"must be at most {RUPIAH_DIGITS_MAX} digits, got {len(cleaned)}"))
    value = int(cleaned)
    if value <= 0:
        fail(InvalidInput(field, f"must be greater than zero, got {value}"))
    return value


def build(cls: type[Command], **fields: Any) -> Command:
    from pydantic import ValidationError

    from commands.messages import field_error

    fields = {k: v for k, v in fields.items() if v is not None}
    if fields.get("command_id") is None:
        fields.pop("command_id", None)
    try:
        return cls(**fields)
    except ValidationError as exc:
        fail(field_error(exc))
    except LedgerError as exc:
        fail(exc)
    raise AssertionError  # pragma: no cover


def emit(result: Any, as_json: bool, render: Callable[[Any], None] | None = None) -> None:
    """Print a result; no stored text reaches the terminal raw (docs/rules.md#text-output)."""
    if as_json:
        sys.stdout.write(json_escaped(json.dumps(result, indent=2, ensure_ascii=False, default=str)) + "\n")
        return
    from cli.render import terminal_safe

    result = terminal_safe(result)
    if render is not None:
        render(result)
    else:
        from rich.table import Table

        table = Table(show_header=False, box=None)
        for key, value in result.items():
            table.add_row(f"[bold]{key}[/bold]", json.dumps(value, ensure_ascii=False, default=str)
                          if isinstance(value, dict | list) else str(value))
        get_console().print(table)


def with_ledger(store: str | None, fn: Callable[[Ledger], Any], *, create: bool = True) -> Any:
    from eventstore.bootstrap import bootstrap

    ledger = None
    try:
        ledger = bootstrap(store, create=create)
        return fn(ledger)
    except LedgerError as err:
        fail(err)
    finally:
        if ledger is not None:
            ledger.close()
    return None


def run_command(store: str | None, command: Command, as_json: bool) -> None:
    from commands import bulk
    from commands.handlers import execute

    bulk.SHOW_PROGRESS = not as_json and sys.stderr.isatty()
    result = with_ledger(store, lambda ledger: execute(ledger, command, current_actor(ledger)))
    emit(result, as_json)


# --- who is acting --------------------------------------------------------------------------------

def current_actor(ledger: Ledger) -> Actor:
    """The principal of ``--token`` / ``JAMSOS_TOKEN``, or the local operating-system user."""
    from commands.authorise import authenticate, local_actor

    token = SESSION["token"]
    return authenticate(ledger, token) if token else local_actor()


def read_with(store: str | None, read: str, fn: Callable[[Ledger], Any], *, agreement_id: str | None = None,
              nik: str | None = None) -> Any:
    """Run the read ``fn`` once the acting principal is allowed ``read`` (of that agreement or member)."""
    from commands.authorise import authorise_read

    def go(ledger: Ledger) -> Any:
        authorise_read(ledger, current_actor(ledger), read, agreement_id=agreement_id, nik=nik)
        return fn(ledger)

    return with_ledger(store, go, create=False)

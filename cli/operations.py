"""`jamsos init`, `sweep` and `check`: create a store, emit due lapses, verify the journal."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from cli import render
from cli.common import (
    CommandIdOpt,
    JsonOpt,
    OnOpt,
    StoreOpt,
    build,
    console,
    emit,
    parse_date,
    read_with,
    run_command,
    with_ledger,
)
from commands.messages import (
    Sweep,
)
from eventstore.bootstrap import Ledger

verbs = typer.Typer()
"""This module's root-level verbs (listed in :data:`cli.verbs.VERBS`)."""


@verbs.command()
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


@verbs.command()
def sweep(
    on: OnOpt = None, store: StoreOpt = None, as_json: JsonOpt = False, command_id: CommandIdOpt = None,
) -> None:
    """Emit every lapse due by --on (ARREARS, FUNDING_ENDED). Running it again for the date emits nothing."""
    run_command(store, build(Sweep, effective_on=parse_date(on), command_id=command_id), as_json)


# --- agreements -----------------------------------------------------------------------------------

@verbs.command()
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


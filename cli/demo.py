"""`jamsos demo`: the seed schemes played month by month, then their reports."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from cli import render
from cli.common import (
    JsonOpt,
    console,
    emit,
    fail,
    with_ledger,
)
from eventstore.bootstrap import Ledger
from ledger.errors import (
    LedgerError,
)

verbs = typer.Typer()
"""This module's root-level verbs (listed in :data:`cli.verbs.VERBS`)."""


@verbs.command()
def demo(
    store: Annotated[str, typer.Option("--store", help="A fresh store for the demo: a SQLite file that does not "
                                       "exist yet, or a PostgreSQL URL (postgresql://user@host:port/db[?schema=name]) "
                                       "of an empty database or schema.")] = "jamsos.db",
    scale: Annotated[float, typer.Option(help="Cohort scale (1.0 = the seed figures).")] = 1.0,
    as_json: JsonOpt = False,
) -> None:
    """Load the seed schemes (docs/rules.md#seed-scenarios) and play them month by month on a simulated clock."""
    from cli.seed_demo import DEMO_END, run_demo
    from eventstore.clock import SystemClock
    from projections.reports import build_report

    try:
        summary = run_demo(store, scale=scale, quiet=as_json)
    except LedgerError as err:
        fail(err)
        return

    def reports(ledger: Ledger) -> dict[str, Any]:
        from cli.seed_demo import SCHEMES

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



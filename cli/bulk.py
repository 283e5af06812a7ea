"""`jamsos bulk status`: the bulk commands (cohort payment, import, sweep) still in progress, and how to finish
them (docs/rules.md#bulk-progress)."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.common import JsonOpt, StoreOpt
from cli.verbs import summary

bulk_app = typer.Typer(help=summary("bulk"))


@bulk_app.command("status")
def bulk_status(
    include_completed: Annotated[bool, typer.Option("--all", help="List completed bulk commands too.")] = False,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Each bulk command in progress: command id, command, members done / total, its payment reference. A rerun
    with the same command id and arguments resumes it."""
    from cli.common import emit, read_with
    from commands.bulk import bulk_runs

    runs = read_with(store, "project", lambda ledger: bulk_runs(ledger, include_completed=include_completed))
    emit({"bulk": runs, "in_progress": sum(r["status"] == "in progress" for r in runs)}, as_json)

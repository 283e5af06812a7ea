"""`jamsos project`: run, status and rebuild the read models."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from cli.common import (
    JsonOpt,
    StoreOpt,
    emit,
    fail,
    read_with,
)
from cli.verbs import summary
from eventstore.bootstrap import Ledger
from ledger.errors import (
    RuleViolation,
)

project_app = typer.Typer(help=summary("project"))


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


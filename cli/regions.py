"""`jamsos region workforce`: workforce figures for UCJ coverage."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.common import (
    CommandIdOpt,
    JsonOpt,
    OnOpt,
    StoreOpt,
    build,
    parse_date,
    run_command,
)
from cli.verbs import summary
from commands.messages import (
    RecordWorkforce,
)

region_app = typer.Typer(help=summary("region"))


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


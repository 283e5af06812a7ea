"""`jamsos report NAME`: a report from the read models, with CSV and XLSX exports."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli.common import (
    AsOfOpt,
    JsonOpt,
    OnOpt,
    StoreOpt,
    emit,
    fail,
    get_console,
    parse_date,
    parse_timestamp,
    read_with,
)
from ledger.errors import (
    InvalidInput,
)
from projections.report_names import REPORT_DESCRIPTIONS

if TYPE_CHECKING:
    from eventstore.bootstrap import Ledger

# A registers report is read on the light path (cli/light_read.py) when it can be: this module imports nothing of the
# write side; the full path (read_with, projections.reports) is imported only when it is taken.

verbs = typer.Typer()
"""This module's root-level verbs (listed in :data:`cli.verbs.VERBS`)."""

REPORTS_HELP = (
    "A report from the read models: --on for business time, --as-of for what was recorded by then.\n\n"
    + "\n".join(f"{name}: {text}." for name, text in REPORT_DESCRIPTIONS.items())
)


@verbs.command(help=REPORTS_HELP)
def report(
    name: Annotated[str, typer.Argument(metavar="NAME", help=f"One of: {', '.join(REPORT_DESCRIPTIONS)}.")],
    agreement_id: Annotated[str | None, typer.Option("--agreement", help="Only this agreement.")] = None,
    period: Annotated[str | None, typer.Option("--period", help="reconciliation: only this month (YYYY-MM).")]
    = None,
    csv_dir: Annotated[Path | None, typer.Option(
        "--csv", metavar="DIR", help="Also write CSV files into DIR (created if missing): <report>.<section>.csv "
        "per section and <report>.totals.csv, one header row each, UTF-8; files of those names are replaced.")]
    = None,
    xlsx_file: Annotated[Path | None, typer.Option(
        "--xlsx", metavar="FILE", help="Also write an XLSX workbook FILE.xlsx: totals, then a sheet per section.")]
    = None,
    section: Annotated[str | None, typer.Option(
        "--section", metavar="NAME", help="Print only this section (or 'totals') as CSV instead of the tables.")]
    = None,
    on: OnOpt = None,
    as_of: AsOfOpt = None,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """A report from the read models (its help, with every report described, is ``REPORTS_HELP``)."""
    from cli.light_read import light_report

    check_export_paths(csv_dir, xlsx_file)
    if section is not None and as_json:
        fail(InvalidInput("section", "prints CSV: it cannot be combined with --json"))
    result = light_report(store, name, on, as_of, agreement_id, period)
    if result is None:
        result = full_report(store, name, on, as_of, agreement_id, period)
    if section is not None:
        from projections.export import section_names

        if section not in section_names(result):
            fail(InvalidInput("section", f"the {name} report has no section {section!r}; "
                                         f"known: {', '.join(section_names(result))}"))
    write_exports(result, csv_dir, xlsx_file)
    if section is not None:
        from projections.export import section_csv

        sys.stdout.write(section_csv(result, section))
        return
    emit(result, as_json, render_report)


def full_report(store: str | None, name: str, on: str | None, as_of: str | None, agreement_id: str | None,
                period: str | None) -> Any:
    """The report through the full path: the store opened by ``eventstore.bootstrap``, the principal loaded, the
    read models caught up (or rebuilt as of ``as_of``) by ``projections.reports.build_report``."""
    from projections.reports import build_report

    def go(ledger: Ledger) -> Any:
        return build_report(ledger.store, name, parse_date(on), parse_timestamp(as_of), ledger.clock.now(),
                            agreement_id, period)

    return read_with(store, f"report.{name}" if name in REPORT_DESCRIPTIONS else "report.members", go,
                     agreement_id=agreement_id)


def render_report(view: Any) -> None:
    from cli import render

    render.render_report(get_console(), view)


def check_export_paths(csv_dir: Path | None, xlsx_file: Path | None) -> None:
    """Refuse export paths that cannot work before building the report (which writes nothing either)."""
    if csv_dir is not None:
        if csv_dir.exists() and not csv_dir.is_dir():
            fail(InvalidInput("csv", f"{csv_dir} is a file: --csv takes a directory (one CSV file per section)"))
        if not csv_dir.exists() and csv_dir.suffix.lower() == ".csv":
            fail(InvalidInput("csv", f"{csv_dir} looks like a file name: --csv takes a directory "
                                     "(one CSV file per section)"))
    if xlsx_file is not None:
        if xlsx_file.suffix.lower() != ".xlsx":
            fail(InvalidInput("xlsx", f"{xlsx_file}: the file name must end in .xlsx"))
        if xlsx_file.is_dir():
            fail(InvalidInput("xlsx", f"{xlsx_file} is a directory"))
        if not xlsx_file.parent.is_dir():
            fail(InvalidInput("xlsx", f"directory {xlsx_file.parent} does not exist"))


def write_exports(result: dict[str, Any], csv_dir: Path | None, xlsx_file: Path | None) -> None:
    if csv_dir is None and xlsx_file is None:
        return
    from projections.export import write_csv, write_xlsx

    for field, target, write in (("csv", csv_dir, write_csv), ("xlsx", xlsx_file, write_xlsx)):
        if target is None:
            continue
        try:
            write(result, target)
        except OSError as exc:
            fail(InvalidInput(field, f"cannot write {exc.filename or target}: {exc.strerror or exc}"))


# --- money: billing, reconciliation, refunds, checks ---------------------------------------------

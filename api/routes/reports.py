"""Reports: ``GET /api/v1/reports/<name>`` for every report of ``jamsos report NAME``, as JSON, CSV or XLSX.

One route per report (so each declares its own roles: ``READ_ROLES["report.<name>"]``). The representation is
chosen by ``Accept``: JSON (the default: exactly the CLI's ``--json`` document), ``text/csv`` (one section, the
CLI's ``--section``; ``totals`` unless ``section`` names another) or the XLSX workbook of the CLI's ``--xlsx``.
A scoped principal must name an agreement of its scope (``agreement``) and then sees only that agreement — the
restriction is inside the query (``projections.reports.build_report``), as for the CLI.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from api.deps import ActorDep, LedgerDep, read_as
from api.problems import COMMON_PROBLEMS, problem_responses
from api.routes.reading import (
    API,
    JSON_TYPE,
    STRICT_QUERY,
    AsOfQuery,
    OnQuery,
    accepting,
    cli_json,
    roles_of_read,
)
from eventstore.bootstrap import Ledger
from ledger.business_time import parse_day, parse_instant
from ledger.errors import InvalidInput, NotFound
from projections.report_cache import ReportCache, report_key
from projections.reports import REPORT_DESCRIPTIONS

CSV_TYPE = "text/csv"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
REPRESENTATIONS = (JSON_TYPE, CSV_TYPE, XLSX_TYPE)
DEFAULT_SECTION = "totals"

AgreementQuery = Annotated[str | None, Query(description="Only this agreement (a scoped principal must name one "
                                                         "of its scope).", examples=["SKW-RENTAN-2025"])]
PeriodQuery = Annotated[str | None, Query(description="reconciliation: only this month (YYYY-MM).",
                                          examples=["2026-01"])]
SectionQuery = Annotated[str | None, Query(
    description=f"With `Accept: {CSV_TYPE}`: the section to return (default `{DEFAULT_SECTION}`).")]

REPORT_CONTENT: dict[str, dict[str, Any]] = {
    CSV_TYPE: {"schema": {"type": "string"}},
    XLSX_TYPE: {"schema": {"type": "string", "format": "binary"}},
}
"""The non-JSON representations of a report, for the OpenAPI document."""


def report_document(ledger: Ledger, name: str, on: str | None, as_of: str | None, agreement: str | None,
                    period: str | None, cache: ReportCache | None = None) -> dict[str, Any]:
    """The report as the CLI builds it (``jamsos report NAME --json``); from ``cache`` when it was built at the
    log's present head, on the same day, with the same parameters (:mod:`projections.report_cache`)."""
    from projections.reports import build_report

    day, instant, now = parse_day(on), parse_instant(as_of), ledger.clock.now()

    def build() -> dict[str, Any]:
        return build_report(ledger.store, name, day, instant, now, agreement, period)

    if cache is None:
        return build()
    head = ledger.store.max_notification_id()
    return cache.get_or_build(report_key(name, day, instant, agreement, period, head, now), build)


def represent(result: dict[str, Any], representation: str, section: str | None) -> Response:
    """``result`` as JSON, one section's CSV, or the workbook; refuses a section it lacks (naming the known ones)."""
    from projections.export import section_csv, section_names, write_xlsx

    name = str(result["report"])
    if representation != CSV_TYPE:
        if section is not None:
            raise InvalidInput("section", f"only with Accept: {CSV_TYPE} (a section is CSV)")
        if representation == JSON_TYPE:
            return cli_json(result)
        with tempfile.TemporaryDirectory(prefix="jamsos-xlsx-") as folder:
            path = Path(folder) / f"{name}.xlsx"
            write_xlsx(result, path)
            content = path.read_bytes()
        return Response(content, media_type=XLSX_TYPE, headers={
            "content-disposition": f'attachment; filename="{name}-{result["on"]}.xlsx"'})
    chosen = section or DEFAULT_SECTION
    if chosen not in section_names(result):
        raise InvalidInput("section", f"the {name} report has no section {chosen!r}; "
                                      f"known: {', '.join(section_names(result))}")
    return Response(section_csv(result, chosen).encode("utf-8"), media_type=f"{CSV_TYPE}; charset=utf-8",
                    headers={"content-disposition": f'attachment; filename="{name}.{chosen}.csv"'})


def _endpoint(name: str) -> Any:
    read = f"report.{name}"
    chosen = accepting(*REPRESENTATIONS)

    def endpoint(request: Request, ledger: LedgerDep, actor: ActorDep, on: OnQuery = None, as_of: AsOfQuery = None,
                 agreement: AgreementQuery = None, period: PeriodQuery = None, section: SectionQuery = None,
                 representation: str = chosen) -> Response:
        read_as(ledger, actor, read, agreement_id=agreement)  # before the cache: a kept report is not for everyone
        document = report_document(ledger, name, on, as_of, agreement, period, request.app.state.reports)
        return represent(document, representation, section)

    endpoint.__name__ = "report_" + name.replace("-", "_")
    endpoint.__doc__ = f"The {name} report: {REPORT_DESCRIPTIONS[name]}."
    return endpoint


def build_router() -> APIRouter:
    router = APIRouter(prefix=API, tags=["reports"], dependencies=STRICT_QUERY)
    for name, text in REPORT_DESCRIPTIONS.items():
        router.add_api_route(
            f"/reports/{name}", _endpoint(name), methods=["GET"], summary=f"Report {name}: {text}"[:120],
            response_model=dict[str, Any], operation_id="report_" + name.replace("-", "_"),
            responses={200: {"content": REPORT_CONTENT, "description": "The report (JSON by default)."},
                       **problem_responses(*sorted({*COMMON_PROBLEMS, 404, 406}))},
            openapi_extra={"x-roles": roles_of_read(f"report.{name}"), "x-read": f"report.{name}"},
        )

    @router.get("/reports/{name}", include_in_schema=False, openapi_extra={"x-roles": roles_of_read(
        *(f"report.{n}" for n in REPORT_DESCRIPTIONS))})
    def unknown_report(name: str, actor: ActorDep) -> None:
        """Any other name: 404 naming ``name`` and the reports there are."""
        raise NotFound("name", f"unknown report {name[:64]!r}; known: {', '.join(REPORT_DESCRIPTIONS)}")

    return router


router = build_router()

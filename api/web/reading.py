"""How a page reads: the same reports, with the same authorisation, as ``GET /api/v1/reports/<name>``.

A page names the report, the agreement (or none) and the period; the pickers give ``on`` and ``as_of``. The read is
refused (403 page) exactly where the API refuses it (``api.deps.read_as``); the document comes from the process's
report cache (``projections.report_cache``), so a page opened twice without a write in between is not built twice.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request

from api.deps import read_as
from api.routes.reports import report_document
from api.web.core import ReportTime, WebUser, ledger_of
from projections.agreement_list import AgreementEntry, agreements_in


def report(request: Request, user: WebUser, name: str, agreement: str | None = None,
           period: str | None = None, time: ReportTime | None = None) -> dict[str, Any]:
    """The report ``name`` as the signed-in principal may read it (``time`` overrides the pickers)."""
    ledger = ledger_of(request)
    time = time or ReportTime.of(request)
    time.check(ledger)
    read_as(ledger, user.actor, f"report.{name}", agreement_id=agreement)
    return report_document(ledger, name, time.on, time.as_of, agreement, period, request.app.state.reports)


def visible_agreements(request: Request, user: WebUser) -> list[AgreementEntry]:
    """The agreements inside the principal's scope."""
    return agreements_in(ledger_of(request).store, user.actor.scope)


def section_rows(document: dict[str, Any], name: str) -> list[dict[str, Any]]:
    """A report section's rows as dicts by column (empty when the report lacks it)."""
    section = document.get("sections", {}).get(name)
    if not section:
        return []
    columns = section["columns"]
    return [dict(zip(columns, row, strict=True)) for row in section["rows"]]

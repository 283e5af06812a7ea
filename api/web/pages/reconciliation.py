"""Rekonsiliasi / Reconciliation: one agreement of the principal's scope — per month budget share, expected,
billed, paid and received (a grouped bar chart and its table), the budget status, refunds due and the payer's open
exceptions with their age — and, for finance, the three commands of reconciliation: upload a bank statement
(``reconcile.import``, as ``POST /api/v1/statements``), run the matching (``reconcile.run``) and resolve an
exception (``reconcile.resolve``: match by hand, write off, park in suspense). The open exceptions download as the
report's XLSX sheet.

Invariants:
- The agreement is one of the principal's scope (another one is a 403 page); the commands name its payer, run as
  the signed-in principal, and are refused (403 page, nothing written) for a principal whose roles or scope do not
  allow them — an auditor is offered no form, and a forged one writes nothing.
- Every POST checks the session's CSRF token first; a refusal re-renders the page naming the field and the reason
  (nothing written); a success redirects (303) back to the page with the result in the query.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import UploadFile as ReceivedFile
from starlette.requests import ClientDisconnect

from api.deps import read_as
from api.web import i18n, statement_upload
from api.web.core import (
    CSRF_FIELD,
    NAV,
    STATUS_OF_ERROR,
    NavEntry,
    WebUser,
    check_csrf,
    ledger_of,
    render,
    require_read,
    web_user,
)
from api.web.pages.reconciliation_text import CATALOGUE
from api.web.reading import report, section_rows, visible_agreements
from api.web.statement_upload import STATEMENT_BYTES_MAX, SUFFIXES, UPLOAD_PATH
from commands.authorise import may_run, require_role_for
from commands.handlers import execute
from commands.messages import ResolveException, RunReconciliation, make
from ledger.errors import Forbidden, InvalidInput, LedgerError, NotFound
from projections.agreement_list import AgreementEntry
from projections.export import write_xlsx

READ = "report.reconciliation"
PATH = "/reconciliation"
RUN_PATH = f"{PATH}/runs"
RESOLVE_PATH = f"{PATH}/resolutions"
XLSX_PATH = f"{PATH}/exceptions.xlsx"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
router = APIRouter(include_in_schema=False)
NAV.append(NavEntry(PATH, "nav.reconciliation", (READ,)))
User = Annotated[WebUser, Depends(web_user)]
FormText = Annotated[str | None, Form()]
"""Every form field is optional to FastAPI: the CSRF token is checked first, then each field names itself."""

FIGURES = ("budget_share_rp", "expected_rp", "billed_rp", "paid_rp", "received_rp")
ACTIONS = ("MATCH", "WRITE_OFF", "SUSPENSE")
INVOICE_SPLIT = re.compile(r"[\s,;]+")
RESULT_TEXT_MAX = 300
FORM_FIELDS_MAX = 8
FORM_FIELD_BYTES_MAX = 4_096
"""The upload form's text fields (agreement, period bounds, CSRF token): few and small."""

i18n.register(CATALOGUE)


def _agreement(request: Request, user: WebUser, code: str | None, required: bool = False
               ) -> tuple[AgreementEntry | None, list[AgreementEntry]]:
    """The chosen agreement (the first of the scope when none is chosen) and the scope's agreements; another
    principal's agreement is refused (403), an unknown one is not found (404)."""
    visible = visible_agreements(request, user)
    code = (code or "").strip()
    if not code:
        if required:
            raise InvalidInput("agreement", "choose the agreement")
        return (visible[0] if visible else None), visible
    if len(code) > 64:
        raise InvalidInput("agreement", "at most 64 characters")
    for entry in visible:
        if entry.code == code:
            return entry, visible
    read_as(ledger_of(request), user.actor, READ, agreement_id=code)  # outside the scope: Forbidden
    raise NotFound("agreement", f"unknown agreement {code}")


def _spread(total: int, parts: int) -> list[int]:
    """``total`` in ``parts`` whole-rupiah shares that add up to it (the first ones a rupiah more)."""
    if parts <= 0:
        return []
    share, left = divmod(total, parts)
    return [share + (1 if i < left else 0) for i in range(parts)]


def _int(value: str | None) -> int | None:
    return int(value) if value is not None and re.fullmatch(r"-?\d{1,18}", value) else None


def _results(request: Request) -> dict[str, Any]:
    """The result of the last POST, from the redirect's query (numbers only as numbers; text shown escaped)."""
    q = request.query_params
    out: dict[str, Any] = {}
    if q.get("uploaded"):
        out["upload"] = {"file": q["uploaded"][:RESULT_TEXT_MAX], "format": q.get("format", "")[:8],
                         "read": _int(q.get("read")), "new": _int(q.get("new")),
                         "imported": _int(q.get("imported")), "already": _int(q.get("already")),
                         "total_rp": _int(q.get("total_rp")), "failed": (q.get("failed") or "")[:RESULT_TEXT_MAX]}
    if q.get("ran"):
        out["run"] = {"lines": _int(q.get("lines")), "matched": _int(q.get("matched")),
                      "matched_rp": _int(q.get("matched_rp")), "raised": _int(q.get("raised"))}
    if q.get("resolved"):
        out["resolve"] = {"line": q["resolved"][:80], "action": q.get("action", "")[:16]}
    return out


def _page(request: Request, user: WebUser, entry: AgreementEntry | None, visible: list[AgreementEntry],
          refusal: tuple[str, LedgerError] | None = None) -> HTMLResponse:
    """The page of ``entry``; with ``refusal`` (the form, its error) re-rendered after a refused POST."""
    context: dict[str, Any] = {"entry": entry, "agreements": visible, "figures": FIGURES, "actions": ACTIONS,
                               "suffixes": ", ".join(SUFFIXES),
                               "max_size": f"{STATEMENT_BYTES_MAX // 1_048_576} MiB", "results": _results(request),
                               "may_import": may_run(user.actor, "reconcile.import"),
                               "may_run": may_run(user.actor, "reconcile.run"),
                               "may_resolve": may_run(user.actor, "reconcile.resolve"),
                               "paths": {"upload": UPLOAD_PATH, "run": RUN_PATH, "resolve": RESOLVE_PATH,
                                         "xlsx": XLSX_PATH}}
    status = 200
    if refusal is not None:
        form, err = refusal
        status = STATUS_OF_ERROR.get(type(err).__name__, 422)
        status = 404 if isinstance(err, NotFound) else status
        context["refusal"] = {"form": form, "field": err.field, "reason": err.reason, "status": status}
    if entry is not None:
        document = report(request, user, "reconciliation", agreement=entry.code)
        months = section_rows(document, "months")
        budget = section_rows(document, "budget")
        totals = document["totals"]
        for row, share in zip(months, _spread(totals["budget_rp"] or 0, len(months)), strict=True):
            row["budget_share_rp"] = share
        context.update(
            report=document, months=months, budget=budget[0] if budget else None, totals=totals,
            exceptions=section_rows(document, "open_exceptions"), refunds=section_rows(document, "refunds"),
            sums={f: sum(r[f] or 0 for r in months) for f in FIGURES},
            open_invoices=sorted({r["invoice"] for r in months if r["invoice"] and r["billed_minus_received_rp"]}),
            chart={"type": "bar", "money": True, "labels": [i18n.month_name(r["period"], user.lang) for r in months],
                   "datasets": [{"label": user.t(f"reconciliation.col.{f}"), "data": [r[f] or 0 for r in months]}
                                for f in FIGURES]})
    return render(request, user, "reconciliation.html", context, status_code=status)


def _back(entry: AgreementEntry, **result: Any) -> RedirectResponse:
    query = urlencode({"agreement": entry.code, **{k: v for k, v in result.items() if v is not None}})
    return RedirectResponse(f"{PATH}?{query}", status_code=303)


def _day(value: str | None, field: str) -> date | None:
    text = (value or "").strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(field, f"{text[:40]!r} is not a date (YYYY-MM-DD)") from None


@router.get(PATH, response_class=HTMLResponse)
def reconciliation(request: Request, user: User, agreement: str | None = None) -> HTMLResponse:
    require_read(user, READ)
    entry, visible = _agreement(request, user, agreement)
    return _page(request, user, entry, visible)


@router.get(XLSX_PATH)
def exceptions_xlsx(request: Request, user: User, agreement: str | None = None) -> Response:
    """The report's open exceptions as a workbook (its totals sheet, then the exceptions sheet)."""
    require_read(user, READ)
    entry, _ = _agreement(request, user, agreement, required=True)
    assert entry is not None
    document = report(request, user, "reconciliation", agreement=entry.code)
    sheet = {**document, "sections": {"open_exceptions": document["sections"]["open_exceptions"]}}
    with TemporaryDirectory(prefix="jamsos-web-xlsx-") as folder:
        path = Path(folder) / "exceptions.xlsx"
        write_xlsx(sheet, path)
        content = path.read_bytes()
    name = f"reconciliation-exceptions-{entry.code}-{document['on']}.xlsx"
    return Response(content, media_type=XLSX_TYPE, headers={"content-disposition": f'attachment; filename="{name}"'})


@router.post(UPLOAD_PATH, response_model=None)
async def upload_statement(request: Request, user: User) -> Response:
    """``reconcile.import`` of the uploaded file for the agreement's payer (see :mod:`api.web.statement_upload`).

    The route declares no form fields, so the body is read only once the session is known to be one that may
    import (a stranger's or an auditor's upload is never received); then the CSRF token first, as every form."""
    require_role_for(user.actor, "reconcile.import")
    try:
        form = await request.form(max_files=1, max_fields=FORM_FIELDS_MAX, max_part_size=FORM_FIELD_BYTES_MAX)
    except ClientDisconnect:
        return Response(status_code=400)
    try:
        fields = {k: v for k, v in form.multi_items() if isinstance(v, str)}
        check_csrf(user, fields.get(CSRF_FIELD))
        statement = form.get(statement_upload.FIELD)
        return await run_in_threadpool(_upload, request, user, fields,
                                       statement if isinstance(statement, ReceivedFile) else None)
    finally:
        await form.close()


def _upload(request: Request, user: WebUser, fields: dict[str, str], statement: ReceivedFile | None) -> Response:
    entry, visible = _agreement(request, user, fields.get("agreement"), required=True)
    assert entry is not None
    try:
        start, end = _day(fields.get("period_start"), "period_start"), _day(fields.get("period_end"), "period_end")
        if statement is None:
            raise InvalidInput(statement_upload.FIELD, "no file chosen: choose the bank statement file (CSV, XLSX "
                                                       "or MT940)")
        with request.app.state.writers:
            result = statement_upload.import_upload(ledger_of(request), user.actor, statement.file,
                                                    statement.filename, entry.payer_id, start, end)
    except Forbidden:
        raise
    except LedgerError as err:
        return _page(request, user, entry, visible, ("upload", err))
    return _back(entry, uploaded=result.file, format=result.format, read=result.lines_read, new=result.new_lines,
                 imported=result.imported, already=result.already_imported, total_rp=result.total_rp,
                 failed=result.failure)


@router.post(RUN_PATH, response_model=None)
def run_matching(request: Request, user: User, csrf_token: FormText = None, agreement: FormText = None) -> Response:
    """``reconcile.run`` for the agreement's payer: every new statement line matched, or an exception raised."""
    check_csrf(user, csrf_token)
    entry, visible = _agreement(request, user, agreement, required=True)
    assert entry is not None
    try:
        with request.app.state.writers:
            result = execute(ledger_of(request), make(RunReconciliation, payer_id=entry.payer_id), user.actor)
    except Forbidden:
        raise
    except LedgerError as err:
        return _page(request, user, entry, visible, ("run", err))
    mine = result.get("payers", {}).get(entry.payer_id, {})
    return _back(entry, ran=1, lines=mine.get("lines", 0), matched=result["matched"], matched_rp=result["matched_rp"],
                 raised=result["exceptions"])


@router.post(RESOLVE_PATH, response_model=None)
def resolve_exception(request: Request, user: User, csrf_token: FormText = None, agreement: FormText = None,
                      statement_id: FormText = None, line_no: FormText = None, action: FormText = None,
                      invoice_refs: FormText = None, note: FormText = None) -> Response:
    """``reconcile.resolve`` of one open exception: match by hand to invoices, write off, or park in suspense."""
    check_csrf(user, csrf_token)
    entry, visible = _agreement(request, user, agreement, required=True)
    assert entry is not None
    try:
        line = _int((line_no or "").strip())
        if line is None:
            raise InvalidInput("line_no", f"{(line_no or '')[:20]!r} is not a line number")
        refs = [r for r in INVOICE_SPLIT.split((invoice_refs or "").strip()) if r]
        command = make(ResolveException, statement_id=(statement_id or "").strip(), line_no=line,
                       action=(action or "").strip(), invoice_refs=refs, note=(note or "").strip())
        with request.app.state.writers:
            execute(ledger_of(request), command, user.actor)
    except Forbidden:
        raise
    except LedgerError as err:
        return _page(request, user, entry, visible, ("resolve", err))
    return _back(entry, resolved=f"{command.statement_id}:{command.line_no}", action=command.action)

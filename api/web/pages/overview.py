"""Ringkasan / Overview: per agreement of the principal's scope, budget, expected, billed, paid and received side
by side, the budget status (``OVER_BUDGET``; ``WARNING`` from the threshold of docs/rules.md#budget-thresholds),
open exceptions and refunds due — from each agreement's reconciliation report."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from api.web import i18n
from api.web.core import NAV, NavEntry, WebUser, render, require_read, web_user
from api.web.reading import report, visible_agreements

READ = "report.reconciliation"
PATH = "/overview"
router = APIRouter(include_in_schema=False)
NAV.append(NavEntry(PATH, "nav.overview", (READ,)))
User = Annotated[WebUser, Depends(web_user)]

FIGURES = ("budget_rp", "expected_rp", "billed_rp", "paid_rp", "received_rp")

i18n.register({
    "id": {
        "overview.title": "Ringkasan",
        "overview.intro": "Anggaran, iuran yang diharapkan, ditagih, dibayar dan diterima per perjanjian dalam "
                          "cakupan Anda.",
        "overview.chart": "Anggaran, diharapkan, ditagih, dibayar dan diterima per perjanjian (rupiah)",
        "overview.table": "Uang per perjanjian",
        "overview.none": "Tidak ada perjanjian dalam cakupan Anda.",
        "col.agreement": "Perjanjian",
        "col.payer": "Pembayar",
        "col.budget_rp": "Anggaran",
        "col.expected_rp": "Diharapkan",
        "col.billed_rp": "Ditagih",
        "col.paid_rp": "Dibayar",
        "col.received_rp": "Diterima",
        "col.budget_status": "Status anggaran",
        "col.open_exceptions": "Pengecualian terbuka",
        "col.refunds_due_rp": "Pengembalian terutang",
        "total": "Jumlah",
        "status.OVER_BUDGET": "melebihi anggaran",
        "status.WARNING": "peringatan: ≥ 80 % anggaran",
        "status.WITHIN": "dalam anggaran",
        "overview.over": "{code}: biaya seluruh periode {expected} melebihi anggaran {budget} (kurang {short}); "
                         "yang ditagih {billed}, {billed_over} di atas anggaran.",
        "overview.warning": "{code}: biaya seluruh periode sudah {share} dari anggaran.",
    },
    "en": {
        "overview.title": "Overview",
        "overview.intro": "Budget, expected, billed, paid and received contributions per agreement in your scope.",
        "overview.chart": "Budget, expected, billed, paid and received per agreement (rupiah)",
        "overview.table": "Money per agreement",
        "overview.none": "No agreement in your scope.",
        "col.agreement": "Agreement",
        "col.payer": "Payer",
        "col.budget_rp": "Budget",
        "col.expected_rp": "Expected",
        "col.billed_rp": "Billed",
        "col.paid_rp": "Paid",
        "col.received_rp": "Received",
        "col.budget_status": "Budget status",
        "col.open_exceptions": "Open exceptions",
        "col.refunds_due_rp": "Refunds due",
        "total": "Total",
        "status.OVER_BUDGET": "over budget",
        "status.WARNING": "warning: ≥ 80 % of the budget",
        "status.WITHIN": "within budget",
        "overview.over": "{code}: the whole window costs {expected}, over the budget of {budget} (short by {short}); "
                         "billed {billed}, {billed_over} over the budget.",
        "overview.warning": "{code}: the whole window already costs {share} of the budget.",
    },
})


@router.get("/", include_in_schema=False)
def home(request: Request, user: User) -> RedirectResponse:
    """The first page of the menu the principal may open (the overview, for most)."""
    first = next((e.path for e in NAV if e.allowed(user.actor)), PATH)
    query = f"?{request.url.query}" if request.url.query else ""
    return RedirectResponse(first + query, status_code=303)


@router.get(PATH, response_class=HTMLResponse)
def overview(request: Request, user: User) -> HTMLResponse:
    require_read(user, READ)
    rows: list[dict[str, Any]] = []
    alerts: list[tuple[str, str]] = []
    document: dict[str, Any] | None = None
    for entry in visible_agreements(request, user):
        document = report(request, user, "reconciliation", agreement=entry.code)
        totals = document["totals"]
        budget = (document["sections"].get("budget") or {"rows": []})["rows"]
        share = budget[0][4] if budget else None
        expected_window = budget[0][3] if budget else None
        rows.append({"agreement": entry, "share_pct": share, "expected_window_rp": expected_window, **totals})
        status = totals.get("budget_status")
        if status == "OVER_BUDGET" and expected_window is not None:
            alerts.append(("error", user.t("overview.over", code=entry.code, expected=i18n.rupiah(expected_window),
                                           budget=i18n.rupiah(totals["budget_rp"]),
                                           short=i18n.rupiah(expected_window - totals["budget_rp"]),
                                           billed=i18n.rupiah(totals["billed_rp"]),
                                           billed_over=i18n.rupiah(totals["billed_rp"] - totals["budget_rp"]))))
        elif status == "WARNING":
            alerts.append(("warn", user.t("overview.warning", code=entry.code,
                                          share=i18n.percent(share, 1, user.lang))))
    chart = {
        "type": "bar", "money": True, "labels": [r["agreement"].code for r in rows],
        "datasets": [{"label": user.t(f"col.{f}"), "data": [r.get(f) or 0 for r in rows]} for f in FIGURES],
    }
    sums = {f: sum(r.get(f) or 0 for r in rows) for f in (*FIGURES, "refunds_due_rp", "open_exceptions")}
    return render(request, user, "overview.html", {"rows": rows, "chart": chart, "alerts": alerts, "sums": sums,
                                                   "figures": FIGURES, "report": document})

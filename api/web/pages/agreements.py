"""Perjanjian / Agreements: the agreements of the principal's scope, and for one of them its members month by month
(active at each month's end, enrolments and lapses by reason), its active members by role and village, and its
payment calendar (per period: members expected, expected, billed, paid, outstanding) — from the members report
(its ``active_by_month`` section, :mod:`projections.member_months`), the reconciliation report and the balances
report, read as the signed-in principal.

Invariants:
- an agreement outside the principal's scope is a 403 page, an unknown code a 404 page naming ``code``;
- no personal data: the reports read here count members, they name none;
- the payment calendar is shown only to a principal who may read the money reports (an operator sees the members
  part and is told why the calendar is not there).
"""

from __future__ import annotations

from itertools import pairwise
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from api.web import i18n
from api.web.core import NAV, NavEntry, WebUser, ledger_of, render, require_read, web_user
from api.web.reading import report, section_rows, visible_agreements
from commands.authorise import READ_ROLES
from ledger.errors import NotFound
from projections.agreement_list import AgreementEntry, agreements

READS = ("report.members", "agreement.show")
MONEY_READS = ("report.reconciliation", "report.balances")
PATH = "/agreements"
CODE_LEN_MAX = 64
router = APIRouter(include_in_schema=False)
NAV.append(NavEntry(PATH, "nav.agreements", READS))
User = Annotated[WebUser, Depends(web_user)]

FLOWS = ("enrolments", "lapses_arrears", "lapses_funding_ended")
CALENDAR = ("expected_rp", "billed_rp", "paid_rp", "outstanding_rp")

i18n.register({
    "id": {
        "agreements.title": "Perjanjian",
        "agreements.intro": "Perjanjian kerja sama dalam cakupan Anda. Pilih satu untuk melihat peserta dan "
                            "kalender pembayarannya.",
        "agreements.list": "Perjanjian dalam cakupan Anda",
        "agreements.none": "Tidak ada perjanjian dalam cakupan Anda.",
        "agreements.col.code": "Kode",
        "agreements.col.name": "Nama",
        "agreements.col.payer": "Pembayar",
        "agreements.col.region": "Wilayah",
        "agreements.col.window": "Masa berlaku (periode)",
        "agreements.back": "Semua perjanjian",
        "agreements.detail": "Perjanjian {code}",
        "agreements.summary": "Ringkasan peserta",
        "agreements.enrolled": "Terdaftar di bawah perjanjian ini",
        "agreements.taken_over": "Diambil alih dari pembayar lain",
        "agreements.active": "Peserta aktif",
        "agreements.lapsed_arrears": "Berhenti karena tunggakan",
        "agreements.lapsed_funding_ended": "Berhenti karena pendanaan berakhir",
        "agreements.active.heading": "Peserta aktif per bulan",
        "agreements.active.chart": "Peserta aktif pada akhir setiap bulan",
        "agreements.active.table": "Peserta aktif per bulan (pada hari terakhir bulan, atau pada tanggal laporan "
                                   "untuk bulan berjalan)",
        "agreements.active.drop": "{month}: peserta aktif turun dari {before} menjadi {after}.",
        "agreements.col.month": "Bulan",
        "agreements.col.active": "Aktif",
        "agreements.flows.heading": "Pendaftaran dan berhenti per bulan",
        "agreements.flows.chart": "Pendaftaran dan berhenti menurut alasan per bulan",
        "agreements.flows.table": "Pendaftaran, berhenti menurut alasan dan bulan yang dipulihkan, per bulan",
        "agreements.col.enrolments": "Pendaftaran",
        "agreements.col.lapses_arrears": "Berhenti: tunggakan",
        "agreements.col.lapses_funding_ended": "Berhenti: pendanaan berakhir",
        "agreements.col.reinstated_months": "Bulan dipulihkan (bayar terlambat)",
        "agreements.roles.heading": "Peserta aktif menurut peran dan desa",
        "agreements.roles.chart": "Peserta aktif menurut peran",
        "agreements.roles.table": "Peserta aktif menurut peran",
        "agreements.villages.table": "Peserta aktif menurut desa",
        "agreements.col.role": "Peran",
        "agreements.col.village": "Desa (kode)",
        "agreements.none.active": "Tidak ada peserta aktif pada tanggal laporan.",
        "agreements.none.villages": "Tidak ada peserta aktif yang tercatat dengan desa.",
        "agreements.none.rows": "Tidak ada data untuk perjanjian ini pada tanggal laporan.",
        "agreements.calendar.heading": "Kalender pembayaran",
        "agreements.calendar.chart": "Dibayar dan terutang per periode (rupiah)",
        "agreements.calendar.table": "Kalender pembayaran: per periode, peserta yang diharapkan, iuran yang "
                                     "diharapkan, ditagih, dibayar dan terutang",
        "agreements.calendar.hidden": "Kalender pembayaran hanya untuk peran auditor, finance atau budget_owner.",
        "agreements.col.period": "Periode",
        "agreements.col.members_expected": "Peserta diharapkan",
        "agreements.col.expected_rp": "Diharapkan",
        "agreements.col.billed_rp": "Ditagih",
        "agreements.col.paid_rp": "Dibayar",
        "agreements.col.outstanding_rp": "Terutang",
        "agreements.col.state": "Keadaan",
        "agreements.state.paid": "Lunas",
        "agreements.state.partial": "Sebagian dibayar",
        "agreements.state.outstanding": "Belum dibayar",
        "agreements.total": "Jumlah",
    },
    "en": {
        "agreements.title": "Agreements",
        "agreements.intro": "The cooperation agreements in your scope. Choose one to see its members and its "
                            "payment calendar.",
        "agreements.list": "Agreements in your scope",
        "agreements.none": "No agreement in your scope.",
        "agreements.col.code": "Code",
        "agreements.col.name": "Name",
        "agreements.col.payer": "Payer",
        "agreements.col.region": "Region",
        "agreements.col.window": "Window (periods)",
        "agreements.back": "All agreements",
        "agreements.detail": "Agreement {code}",
        "agreements.summary": "Members at a glance",
        "agreements.enrolled": "Enrolled under this agreement",
        "agreements.taken_over": "Taken over from another payer",
        "agreements.active": "Active members",
        "agreements.lapsed_arrears": "Lapsed for arrears",
        "agreements.lapsed_funding_ended": "Lapsed as the funding ended",
        "agreements.active.heading": "Active members by month",
        "agreements.active.chart": "Active members at each month's end",
        "agreements.active.table": "Active members by month (on the month's last day, or on the report's day for "
                                   "the current month)",
        "agreements.active.drop": "{month}: active members fell from {before} to {after}.",
        "agreements.col.month": "Month",
        "agreements.col.active": "Active",
        "agreements.flows.heading": "Enrolments and lapses by month",
        "agreements.flows.chart": "Enrolments and lapses by reason per month",
        "agreements.flows.table": "Enrolments, lapses by reason and reinstated months, per month",
        "agreements.col.enrolments": "Enrolments",
        "agreements.col.lapses_arrears": "Lapses: arrears",
        "agreements.col.lapses_funding_ended": "Lapses: funding ended",
        "agreements.col.reinstated_months": "Months reinstated (paid late)",
        "agreements.roles.heading": "Active members by role and village",
        "agreements.roles.chart": "Active members by role",
        "agreements.roles.table": "Active members by role",
        "agreements.villages.table": "Active members by village",
        "agreements.col.role": "Role",
        "agreements.col.village": "Village (code)",
        "agreements.none.active": "No active member on the report's day.",
        "agreements.none.villages": "No active member recorded with a village.",
        "agreements.none.rows": "No figures for this agreement on the report's day.",
        "agreements.calendar.heading": "Payment calendar",
        "agreements.calendar.chart": "Paid and outstanding per period (rupiah)",
        "agreements.calendar.table": "Payment calendar: per period, members expected, expected, billed, paid and "
                                     "outstanding contributions",
        "agreements.calendar.hidden": "The payment calendar is for the roles auditor, finance or budget_owner.",
        "agreements.col.period": "Period",
        "agreements.col.members_expected": "Members expected",
        "agreements.col.expected_rp": "Expected",
        "agreements.col.billed_rp": "Billed",
        "agreements.col.paid_rp": "Paid",
        "agreements.col.outstanding_rp": "Outstanding",
        "agreements.col.state": "State",
        "agreements.state.paid": "Paid",
        "agreements.state.partial": "Partly paid",
        "agreements.state.outstanding": "Not paid",
        "agreements.total": "Total",
    },
})


@router.get(PATH, response_class=HTMLResponse)
def agreement_list(request: Request, user: User) -> HTMLResponse:
    require_read(user, *READS)
    return render(request, user, "agreements.html", {"entries": visible_agreements(request, user)})


@router.get(PATH + "/{code}", response_class=HTMLResponse)
def agreement_page(request: Request, user: User, code: str) -> HTMLResponse:
    require_read(user, "report.members")
    entry = _known(request, code)
    members = report(request, user, "members", agreement=code)  # refuses (403) an agreement outside the scope
    active = [r for r in section_rows(members, "active_by_month") if r["agreement"] == code]
    flows = section_rows(members, "by_month")
    roles = section_rows(members, "by_role")
    summary = next((r for r in section_rows(members, "by_agreement") if r["agreement"] == code), None)
    t = user.t
    context: dict[str, Any] = {
        "entry": entry, "report": members, "summary": summary, "active": active, "flows": flows, "roles": roles,
        "villages": section_rows(members, "by_village"), "drops": _drops(active, user), "flow_columns": FLOWS,
        "active_chart": {"type": "line", "labels": [r["month"] for r in active],
                         "datasets": [{"label": t("agreements.col.active"), "data": [r["active"] for r in active]}]},
        "flows_chart": {"type": "bar", "labels": [r["month"] for r in flows],
                        "datasets": [{"label": t(f"agreements.col.{c}"), "data": [r[c] for r in flows]}
                                     for c in FLOWS]},
        "roles_chart": {"type": "bar", "horizontal": True, "labels": [r["role"] for r in roles],
                        "datasets": [{"label": t("agreements.col.active"), "data": [r["active"] for r in roles]}]},
        "calendar": None,
    }
    if all(user.actor.has(*READ_ROLES[read]) for read in MONEY_READS):
        calendar = payment_calendar(report(request, user, "reconciliation", agreement=code),
                                    report(request, user, "balances", agreement=code), code)
        context["calendar"] = calendar
        context["calendar_sums"] = {c: sum(r[c] for r in calendar) for c in CALENDAR}
        context["calendar_chart"] = {
            "type": "bar", "money": True, "stacked": True, "labels": [r["period"] for r in calendar],
            "datasets": [{"label": t("agreements.col.paid_rp"), "data": [r["paid_rp"] for r in calendar],
                          "stack": "money"},
                         {"label": t("agreements.col.outstanding_rp"), "data": [r["outstanding_rp"] for r in calendar],
                          "stack": "money"}]}
    return render(request, user, "agreements_detail.html", context)


def _known(request: Request, code: str) -> AgreementEntry:
    """The agreement ``code``, or a 404 naming ``code``."""
    found = {a.code: a for a in agreements(ledger_of(request).store)}.get(code)
    if found is None:
        shown = code if len(code) <= CODE_LEN_MAX else code[:CODE_LEN_MAX] + "…"
        raise NotFound("code", f"no agreement {shown!r}")
    return found


def payment_calendar(reconciliation: dict[str, Any], balances: dict[str, Any], code: str) -> list[dict[str, Any]]:
    """Per period of the agreement: members expected, expected, paid and outstanding (expected − paid, negative
    when overpaid) from the balances report, billed from the reconciliation report's months; and its state."""
    billed = {r["period"]: r["billed_rp"] for r in section_rows(reconciliation, "months")}
    cells = {r["period"]: r for r in section_rows(balances, "by_agreement_period") if r["agreement"] == code}
    out = []
    for period in sorted(set(billed) | set(cells)):
        cell = cells.get(period, {})
        paid_rp, outstanding_rp = cell.get("paid_rp", 0), cell.get("outstanding_rp", 0)
        state = "paid" if outstanding_rp <= 0 else "partial" if paid_rp > 0 else "outstanding"
        out.append({"period": period, "members_expected": cell.get("members_expected", 0),
                    "expected_rp": cell.get("expected_rp", 0), "billed_rp": billed.get(period, 0),
                    "paid_rp": paid_rp, "outstanding_rp": outstanding_rp, "state": state})
    return out


def _drops(active: list[dict[str, Any]], user: WebUser) -> list[str]:
    """The months in which the active members fell by a quarter or more (a cohort ending, a mass lapse)."""
    out = []
    for before, after in pairwise(active):
        if before["active"] and after["active"] <= before["active"] * 3 // 4:
            out.append(user.t("agreements.active.drop", month=i18n.month_name(after["month"], user.lang),
                              before=i18n.number(before["active"]), after=i18n.number(after["active"])))
    return out

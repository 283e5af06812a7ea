"""Klaim / Claims: the register of claims (filtered by agreement, claim type, status and month of the event), claims
paid against the contributions paid per agreement, the days from submission to payment, and the amounts paid by
benefit component — from the claims report (its ``register`` section, :mod:`projections.claim_register`) and the
balances report, read as the signed-in principal.

Invariants:
- a scoped principal sees only its agreements: the agreement filter offers only those, defaults to the first, and
  one outside the scope is a 403 page; an unknown filter value is a 422 page naming the field;
- no personal data: the register names claims, not members (no name, no NIK, no member id);
- contributions come from the balances report, so a principal who may not read it (a claims officer) sees the
  claims and is told why the comparison is not there.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from api.web import i18n
from api.web.core import NAV, NavEntry, WebUser, ledger_of, render, require_read, web_user
from api.web.reading import report, section_rows, visible_agreements
from commands.authorise import READ_ROLES
from ledger.errors import InvalidInput
from ledger.values import ClaimStatus, ClaimType, Period
from projections.agreement_list import agreements

READ = "report.claims"
CONTRIBUTIONS_READ = "report.balances"
PATH = "/claims"
VALUE_LEN_MAX = 64
router = APIRouter(include_in_schema=False)
NAV.append(NavEntry(PATH, "nav.claims", (READ,)))
User = Annotated[WebUser, Depends(web_user)]
Filter = Annotated[str | None, Query(max_length=200)]

DAY_BUCKETS: tuple[tuple[int, int | None], ...] = ((0, 7), (8, 14), (15, 30), (31, 60), (61, 90), (91, None))
"""Days from submission to payment, grouped (the last group is open-ended)."""
COMPONENTS = ("funeral", "home_care", "jht_balance", "lump_sum", "medical", "periodic", "scholarship", "stmb_full",
              "stmb_reduced")

i18n.register({
    "id": {
        "claims.title": "Klaim",
        "claims.intro": "Register klaim manfaat, klaim yang dibayar dibandingkan dengan iuran, lama pembayaran dan "
                        "jumlah per komponen manfaat.",
        "claims.filters": "Saring klaim",
        "claims.filter.agreement": "Perjanjian",
        "claims.filter.agreement.all": "Semua perjanjian",
        "claims.filter.claim_type": "Jenis klaim",
        "claims.filter.status": "Status",
        "claims.filter.month": "Bulan kejadian (TTTT-BB)",
        "claims.filter.any": "Semua",
        "claims.filter.apply": "Saring",
        "claims.filter.note": "Jenis, status dan bulan menyaring register dan lama pembayaran; perbandingan dengan "
                              "iuran dan komponen manfaat mengikuti perjanjian yang dipilih.",
        "claims.none.scope": "Tidak ada perjanjian dalam cakupan Anda.",
        "claims.register.heading": "Register klaim",
        "claims.register.table": "Register klaim ({shown} dari {total} klaim)",
        "claims.register.none": "Tidak ada klaim yang sesuai dengan saringan.",
        "claims.col.claim": "Klaim",
        "claims.col.agreement": "Perjanjian",
        "claims.col.claim_type": "Jenis",
        "claims.col.status": "Status",
        "claims.col.event_date": "Tanggal kejadian",
        "claims.col.submitted_on": "Diajukan",
        "claims.col.decided_on": "Diputuskan",
        "claims.col.paid_on": "Dibayar",
        "claims.col.days_to_payment": "Hari sampai dibayar",
        "claims.col.amount_rp": "Jumlah",
        "claims.col.reason_code": "Alasan penolakan",
        "claims.vs.heading": "Klaim dibayar dibandingkan dengan iuran",
        "claims.vs.chart": "Klaim dibayar dan iuran dibayar per perjanjian (rupiah)",
        "claims.vs.table": "Klaim dibayar, iuran dibayar dan rasionya per perjanjian",
        "claims.vs.hidden": "Perbandingan dengan iuran hanya untuk peran auditor, finance atau budget_owner.",
        "claims.col.claims": "Klaim",
        "claims.col.claims_paid_rp": "Klaim dibayar",
        "claims.col.contributions_rp": "Iuran dibayar",
        "claims.col.ratio": "Klaim ÷ iuran",
        "claims.days.heading": "Hari dari pengajuan sampai pembayaran",
        "claims.days.chart": "Klaim dibayar menurut lama pembayaran (hari)",
        "claims.days.table": "Klaim dibayar menurut hari dari pengajuan sampai pembayaran",
        "claims.days.summary": "{n} klaim dibayar: rata-rata {avg} hari, tercepat {min}, terlama {max} hari.",
        "claims.days.none": "Tidak ada klaim dibayar yang sesuai dengan saringan.",
        "claims.col.days": "Hari",
        "claims.col.paid_claims": "Klaim dibayar",
        "claims.days.range": "{low}–{high} hari",
        "claims.days.open": "{low} hari atau lebih",
        "claims.components.heading": "Jumlah per komponen manfaat",
        "claims.components.chart": "Jumlah dibayar per komponen manfaat (rupiah)",
        "claims.components.table": "Jumlah dibayar per komponen manfaat",
        "claims.components.none": "Belum ada manfaat yang dibayar.",
        "claims.col.component": "Komponen",
        "claims.total": "Jumlah",
        "claims.self": "Peserta mandiri (tanpa perjanjian)",
        "claims.type.JKM_DEATH": "Kematian (JKM)",
        "claims.type.JKK_DEATH": "Kematian akibat kecelakaan kerja (JKK)",
        "claims.type.JKK_DISABILITY": "Cacat total tetap (JKK)",
        "claims.type.JKK_STMB": "Sementara tidak mampu bekerja (JKK)",
        "claims.type.JKK_MEDICAL": "Perawatan dan pengobatan (JKK)",
        "claims.type.SCHOLARSHIP": "Beasiswa",
        "claims.status.SUBMITTED": "Diajukan",
        "claims.status.HELD": "Ditahan",
        "claims.status.APPROVED": "Disetujui",
        "claims.status.REJECTED": "Ditolak",
        "claims.status.PAID": "Dibayar",
        "claims.component.funeral": "Biaya pemakaman",
        "claims.component.home_care": "Perawatan di rumah",
        "claims.component.jht_balance": "Saldo JHT",
        "claims.component.lump_sum": "Santunan sekaligus",
        "claims.component.medical": "Perawatan medis",
        "claims.component.periodic": "Santunan berkala",
        "claims.component.scholarship": "Beasiswa",
        "claims.component.stmb_full": "STMB penuh",
        "claims.component.stmb_reduced": "STMB dikurangi",
        "claims.bad.agreement": "perjanjian {value!r} tidak dikenal; yang dapat Anda pilih: {known}",
        "claims.bad.claim_type": "jenis klaim {value!r} tidak dikenal; yang dikenal: {known}",
        "claims.bad.status": "status {value!r} tidak dikenal; yang dikenal: {known}",
    },
    "en": {
        "claims.title": "Claims",
        "claims.intro": "The register of benefit claims, claims paid against contributions, the time to payment and "
                        "the amounts per benefit component.",
        "claims.filters": "Filter the claims",
        "claims.filter.agreement": "Agreement",
        "claims.filter.agreement.all": "All agreements",
        "claims.filter.claim_type": "Claim type",
        "claims.filter.status": "Status",
        "claims.filter.month": "Month of the event (YYYY-MM)",
        "claims.filter.any": "All",
        "claims.filter.apply": "Filter",
        "claims.filter.note": "Type, status and month filter the register and the time to payment; the comparison "
                              "with contributions and the benefit components follow the agreement chosen.",
        "claims.none.scope": "No agreement in your scope.",
        "claims.register.heading": "Register of claims",
        "claims.register.table": "Register of claims ({shown} of {total} claims)",
        "claims.register.none": "No claim matches the filters.",
        "claims.col.claim": "Claim",
        "claims.col.agreement": "Agreement",
        "claims.col.claim_type": "Type",
        "claims.col.status": "Status",
        "claims.col.event_date": "Event date",
        "claims.col.submitted_on": "Submitted",
        "claims.col.decided_on": "Decided",
        "claims.col.paid_on": "Paid",
        "claims.col.days_to_payment": "Days to payment",
        "claims.col.amount_rp": "Amount",
        "claims.col.reason_code": "Rejection reason",
        "claims.vs.heading": "Claims paid against contributions",
        "claims.vs.chart": "Claims paid and contributions paid per agreement (rupiah)",
        "claims.vs.table": "Claims paid, contributions paid and their ratio per agreement",
        "claims.vs.hidden": "The comparison with contributions is for the roles auditor, finance or budget_owner.",
        "claims.col.claims": "Claims",
        "claims.col.claims_paid_rp": "Claims paid",
        "claims.col.contributions_rp": "Contributions paid",
        "claims.col.ratio": "Claims ÷ contributions",
        "claims.days.heading": "Days from submission to payment",
        "claims.days.chart": "Paid claims by time to payment (days)",
        "claims.days.table": "Paid claims by days from submission to payment",
        "claims.days.summary": "{n} paid claims: {avg} days on average, {min} at the quickest, {max} at the longest.",
        "claims.days.none": "No paid claim matches the filters.",
        "claims.col.days": "Days",
        "claims.col.paid_claims": "Paid claims",
        "claims.days.range": "{low}–{high} days",
        "claims.days.open": "{low} days or more",
        "claims.components.heading": "Amounts by benefit component",
        "claims.components.chart": "Amounts paid by benefit component (rupiah)",
        "claims.components.table": "Amounts paid by benefit component",
        "claims.components.none": "No benefit paid yet.",
        "claims.col.component": "Component",
        "claims.total": "Total",
        "claims.self": "Self-paying members (no agreement)",
        "claims.type.JKM_DEATH": "Death (JKM)",
        "claims.type.JKK_DEATH": "Death from a work accident (JKK)",
        "claims.type.JKK_DISABILITY": "Total permanent disability (JKK)",
        "claims.type.JKK_STMB": "Temporary inability to work (JKK)",
        "claims.type.JKK_MEDICAL": "Medical care (JKK)",
        "claims.type.SCHOLARSHIP": "Scholarship",
        "claims.status.SUBMITTED": "Submitted",
        "claims.status.HELD": "Held",
        "claims.status.APPROVED": "Approved",
        "claims.status.REJECTED": "Rejected",
        "claims.status.PAID": "Paid",
        "claims.component.funeral": "Funeral costs",
        "claims.component.home_care": "Home care",
        "claims.component.jht_balance": "JHT balance",
        "claims.component.lump_sum": "Lump sum",
        "claims.component.medical": "Medical care",
        "claims.component.periodic": "Periodic benefit",
        "claims.component.scholarship": "Scholarship",
        "claims.component.stmb_full": "STMB in full",
        "claims.component.stmb_reduced": "STMB reduced",
        "claims.bad.agreement": "unknown agreement {value!r}; you may choose: {known}",
        "claims.bad.claim_type": "unknown claim type {value!r}; known: {known}",
        "claims.bad.status": "unknown status {value!r}; known: {known}",
    },
})


def _clean(value: str | None) -> str | None:
    return (value or "").strip() or None


def _shown(value: str) -> str:
    return value if len(value) <= VALUE_LEN_MAX else value[:VALUE_LEN_MAX] + "…"


@router.get(PATH, response_class=HTMLResponse)
def claims_page(request: Request, user: User, agreement: Filter = None, claim_type: Filter = None,
                status: Filter = None, month: Filter = None) -> HTMLResponse:
    require_read(user, READ)
    t = user.t
    visible = visible_agreements(request, user)
    codes = [a.code for a in visible]
    scoped = not user.actor.scope.is_all
    agreement, claim_type, status, month = _clean(agreement), _clean(claim_type), _clean(status), _clean(month)
    if agreement is not None and agreement not in codes:
        known = {a.code for a in agreements(ledger_of(request).store)}
        if agreement not in known:
            raise InvalidInput("agreement", t("claims.bad.agreement", value=_shown(agreement),
                                              known=", ".join(codes) or "–"))
        # a known agreement outside the scope: the report refuses it (403), as the API does
    if claim_type is not None and claim_type not in ClaimType.__members__:
        raise InvalidInput("claim_type", t("claims.bad.claim_type", value=_shown(claim_type),
                                           known=", ".join(ClaimType)))
    if status is not None and status not in ClaimStatus.__members__:
        raise InvalidInput("status", t("claims.bad.status", value=_shown(status), known=", ".join(ClaimStatus)))
    if month is not None:
        month = str(Period.parse(_shown(month), "month"))
    filters = {"agreement": agreement, "claim_type": claim_type, "status": status, "month": month}
    context: dict[str, Any] = {"visible": visible, "scoped": scoped, "filters": filters, "claim_types": list(ClaimType),
                               "statuses": list(ClaimStatus), "report": None}
    if scoped and agreement is None:
        if not visible:
            return render(request, user, "claims.html", context)
        agreement = filters["agreement"] = visible[0].code
    document = report(request, user, "claims", agreement=agreement)
    register = section_rows(document, "register")
    shown = [r for r in register if (claim_type is None or r["claim_type"] == claim_type)
             and (status is None or r["status"] == status) and (month is None or r["event_date"][:7] == month)]
    components = section_rows(document, "by_component")
    days = day_groups(shown, t)
    days_paid = [r["days_to_payment"] for r in shown if r["days_to_payment"] is not None]
    context.update({
        "report": document, "register": shown, "register_total": len(register), "days": days,
        "days_paid": days_paid, "days_summary": days_summary(days_paid, user),
        "components": components, "components_total": sum(r["paid_rp"] for r in components),
        "component_names": COMPONENTS, "ratio_text": lambda r: ratio_text(r, user.lang),
        "days_chart": {"type": "bar", "labels": [g["label"] for g in days],
                       "datasets": [{"label": t("claims.col.paid_claims"), "data": [g["claims"] for g in days]}]},
        "components_chart": {"type": "bar", "money": True, "horizontal": True,
                             "labels": [_component(r["component"], t) for r in components],
                             "datasets": [{"label": t("claims.col.amount_rp"),
                                           "data": [r["paid_rp"] for r in components]}]},
        "versus": None,
    })
    if user.actor.has(*READ_ROLES[CONTRIBUTIONS_READ]):
        balances = report(request, user, "balances", agreement=agreement)
        versus = claims_versus_contributions(document, balances, codes if agreement is None else [agreement],
                                             include_self=agreement is None and not scoped)
        context["versus"] = versus
        context["versus_chart"] = {
            "type": "bar", "money": True, "labels": [r["agreement"] for r in versus],
            "datasets": [{"label": t("claims.col.claims_paid_rp"), "data": [r["claims_paid_rp"] for r in versus]},
                         {"label": t("claims.col.contributions_rp"),
                          "data": [r["contributions_rp"] for r in versus]}]}
        context["versus_sums"] = {k: sum(r[k] for r in versus) for k in ("claims", "claims_paid_rp",
                                                                        "contributions_rp")}
    return render(request, user, "claims.html", context)


def claims_versus_contributions(claims: dict[str, Any], balances: dict[str, Any], codes: list[str],
                                include_self: bool) -> list[dict[str, Any]]:
    """Per agreement of ``codes`` (and SELF when asked, if it has figures): claims, claims paid (the claims
    report's ``by_agreement``), contributions paid (the balances report's ``paid_rp`` summed over the periods) and
    their ratio (None without contributions)."""
    paid_out = {r["agreement"]: r for r in section_rows(claims, "by_agreement")}
    paid_in: dict[str, int] = {}
    for r in section_rows(balances, "by_agreement_period"):
        paid_in[r["agreement"]] = paid_in.get(r["agreement"], 0) + r["paid_rp"]
    keys = list(codes)
    if include_self and ("SELF" in paid_out or "SELF" in paid_in):
        keys.append("SELF")
    rows = []
    for code in keys:
        out, contributions = paid_out.get(code, {}), paid_in.get(code, 0)
        claims_paid = out.get("paid_rp", 0)
        rows.append({"agreement": code, "claims": out.get("claims", 0), "claims_paid_rp": claims_paid,
                     "contributions_rp": contributions,
                     "ratio": Decimal(claims_paid) / Decimal(contributions) if contributions else None})
        ratio = rows[-1]["ratio"]
        rows[-1]["ratio_value"] = "" if ratio is None else i18n.decimal(ratio, 3, "en")
    return rows


def ratio_text(ratio: Decimal | None, lang: str) -> str:
    """``8,7×`` (one decimal, Indonesian comma) or ``8.7×``; ``–`` without contributions."""
    if ratio is None:
        return "–"
    return i18n.decimal(ratio, 1, lang) + "×"


def days_summary(days: list[int], user: WebUser) -> str:
    """How many paid claims, and their average (to one decimal, as the report's total), quickest and longest."""
    if not days:
        return ""
    average = round(sum(days) / len(days), 1)  # as the report's total rounds it
    return user.t("claims.days.summary", n=i18n.number(len(days)), avg=i18n.decimal(average, 1, user.lang),
                  min=i18n.number(min(days)), max=i18n.number(max(days)))


def day_groups(rows: list[dict[str, Any]], t: i18n.Translator) -> list[dict[str, Any]]:
    """Paid claims of ``rows`` per group of :data:`DAY_BUCKETS` (every group, zeros included)."""
    out = []
    for low, high in DAY_BUCKETS:
        n = sum(1 for r in rows if r["days_to_payment"] is not None and r["days_to_payment"] >= low
                and (high is None or r["days_to_payment"] <= high))
        label = t("claims.days.open", low=low) if high is None else t("claims.days.range", low=low, high=high)
        out.append({"low": low, "high": high, "label": label, "claims": n})
    return out


def _component(code: str, t: i18n.Translator) -> str:
    return t(f"claims.component.{code}") if code in COMPONENTS else code

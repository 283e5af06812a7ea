"""Cakupan / Coverage: UCJ per region of the principal's scope (the ledger's active persons ÷ the recorded
workforce, from the coverage report), the coverage reported for the region and its target
(``ledger.ucj_targets``), and a plan: how many more people a target takes and what they cost at the tariff in
force for a number of months (``projections.ucj_plan``, docs/rules.md#ucj-targets).

A principal of scope ``all`` reads the coverage report of the whole ledger; a payer- or region-scoped one reads
it per agreement of its scope (as the API allows it) and sees only the regions of its scope.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from api.web import i18n
from api.web.core import NAV, NavEntry, WebUser, render, require_read, web_user
from api.web.reading import report, visible_agreements
from ledger.errors import Forbidden, InvalidInput
from ledger.principal import region_within
from ledger.ucj_targets import RegionUcj, plan_rate_rp, ucj_targets_on
from projections.ucj_plan import (
    MONTHS_MAX,
    MONTHS_MIN,
    TARGET_MAX_PCT,
    TARGET_MIN_PCT,
    RegionCoverage,
    UcjPlan,
    parse_months,
    parse_target_pct,
    plan,
    region_coverage,
)

READ = "report.coverage"
PATH = "/coverage"
router = APIRouter(include_in_schema=False)
NAV.append(NavEntry(PATH, "nav.coverage", (READ,)))
User = Annotated[WebUser, Depends(web_user)]
Text = Annotated[str | None, Query(max_length=32)]

MONTHS_DEFAULT = 12
"""The plan's horizon when none is asked: one budget year."""
TARGET_DEFAULT_PCT = Decimal(50)
"""The slider's start for a region without a target in the table."""

i18n.register({
    "id": {
        "coverage.title": "Cakupan UCJ dan perencanaan",
        "coverage.intro": "UCJ (Universal Coverage Jamsostek) per wilayah: peserta aktif di buku besar ini dibagi "
                          "angkatan kerja yang tercatat, dibandingkan dengan cakupan yang dilaporkan untuk seluruh "
                          "BPJS Ketenagakerjaan dan dengan target wilayah.",
        "coverage.chart": "UCJ buku besar, cakupan yang dilaporkan dan target per wilayah (persen)",
        "coverage.table": "Cakupan per wilayah",
        "coverage.col.region": "Wilayah",
        "coverage.col.workforce": "Angkatan kerja",
        "coverage.col.active": "Peserta aktif (buku besar)",
        "coverage.col.ucj": "UCJ buku besar",
        "coverage.col.baseline": "Cakupan dilaporkan",
        "coverage.col.covered": "Tercakup sekarang",
        "coverage.col.target": "Target",
        "coverage.col.needed": "Orang yang masih diperlukan",
        "coverage.col.budget": "Anggaran yang diperlukan ({months})",
        "coverage.col.target_persons": "Orang pada target",
        "coverage.baseline_on": "per {on}",
        "coverage.target_by": "sampai {by}",
        "coverage.no_target": "belum ada target",
        "coverage.ds.ucj": "UCJ buku besar",
        "coverage.ds.baseline": "Cakupan dilaporkan",
        "coverage.ds.target_low": "Target (batas bawah)",
        "coverage.ds.target_high": "Target (batas atas)",
        "coverage.plan.title": "Rencana",
        "coverage.plan.help": "Pilih wilayah, target cakupan dan jumlah bulan: halaman menghitung berapa orang lagi "
                              "yang perlu dicakup dan anggarannya pada tarif iuran yang berlaku.",
        "coverage.plan.region": "Wilayah",
        "coverage.plan.target": "Target cakupan",
        "coverage.plan.months": "Jumlah bulan",
        "coverage.plan.months.help": "Dari {min} sampai {max} bulan.",
        "coverage.plan.submit": "Hitung",
        "coverage.plan.result": "Untuk {target} perlu {persons} orang lagi, {budget} untuk {months}.",
        "coverage.plan.reached": "Target {target} sudah tercapai: {covered} orang tercakup, {target_persons} orang "
                                 "pada target. Tidak perlu anggaran tambahan.",
        "coverage.plan.working": "Tercakup sekarang = maks(peserta aktif buku besar {active}, cakupan dilaporkan "
                                 "{baseline}) = {covered}; target {target} × {workforce} = {target_persons} orang; "
                                 "tarif {rate} per orang per bulan (tarif iuran yang berlaku pada {on}).",
        "coverage.plan.targets": "Rentang target {name}",
        "coverage.months.one": "1 bulan",
        "coverage.months.many": "{n} bulan",
        "coverage.none": "Tidak ada wilayah dengan angkatan kerja tercatat dalam cakupan Anda.",
        "coverage.bad.target": "harus berupa angka persen dari {min} sampai {max} (paling banyak dua desimal), "
                               "bukan {got}",
        "coverage.bad.months": "harus berupa bilangan bulat bulan dari {min} sampai {max}, bukan {got}",
        "coverage.bad.region": "wilayah {got} tidak dikenal: tidak ada angkatan kerja atau target yang tercatat "
                               "untuknya",
        "coverage.bad.no_workforce": "wilayah {got} belum memiliki angkatan kerja yang tercatat per {on}",
        "coverage.forbidden.region": "{name} (cakupan {scope}) tidak boleh merencanakan untuk wilayah {got}",
    },
    "en": {
        "coverage.title": "UCJ coverage and planning",
        "coverage.intro": "UCJ (Universal Coverage Jamsostek) per region: the active participants of this ledger "
                          "divided by the recorded workforce, beside the coverage reported for all of BPJS "
                          "Ketenagakerjaan and the region's target.",
        "coverage.chart": "The ledger's UCJ, the reported coverage and the target per region (percent)",
        "coverage.table": "Coverage per region",
        "coverage.col.region": "Region",
        "coverage.col.workforce": "Workforce",
        "coverage.col.active": "Active participants (ledger)",
        "coverage.col.ucj": "Ledger UCJ",
        "coverage.col.baseline": "Reported coverage",
        "coverage.col.covered": "Covered now",
        "coverage.col.target": "Target",
        "coverage.col.needed": "People still needed",
        "coverage.col.budget": "Budget needed ({months})",
        "coverage.col.target_persons": "People at the target",
        "coverage.baseline_on": "as of {on}",
        "coverage.target_by": "by {by}",
        "coverage.no_target": "no target yet",
        "coverage.ds.ucj": "Ledger UCJ",
        "coverage.ds.baseline": "Reported coverage",
        "coverage.ds.target_low": "Target (low end)",
        "coverage.ds.target_high": "Target (high end)",
        "coverage.plan.title": "Plan",
        "coverage.plan.help": "Choose a region, a coverage target and a number of months: the page works out how "
                              "many more people must be covered and their budget at the contribution tariff in "
                              "force.",
        "coverage.plan.region": "Region",
        "coverage.plan.target": "Coverage target",
        "coverage.plan.months": "Months",
        "coverage.plan.months.help": "From {min} to {max} months.",
        "coverage.plan.submit": "Work it out",
        "coverage.plan.result": "To reach {target}, {persons} more people are needed: {budget} for {months}.",
        "coverage.plan.reached": "The target of {target} is reached: {covered} people covered, {target_persons} at "
                                 "the target. No further budget is needed.",
        "coverage.plan.working": "Covered now = max(the ledger's active participants {active}, the reported "
                                 "coverage {baseline}) = {covered}; target {target} × {workforce} = {target_persons} "
                                 "people; tariff {rate} per person-month (the contribution tariff in force on {on}).",
        "coverage.plan.targets": "Target range of {name}",
        "coverage.months.one": "1 month",
        "coverage.months.many": "{n} months",
        "coverage.none": "No region with a recorded workforce in your scope.",
        "coverage.bad.target": "must be a percentage from {min} to {max} (at most two decimals), not {got}",
        "coverage.bad.months": "must be a whole number of months from {min} to {max}, not {got}",
        "coverage.bad.region": "unknown region {got}: no workforce or target is recorded for it",
        "coverage.bad.no_workforce": "region {got} has no recorded workforce on {on}",
        "coverage.forbidden.region": "{name} (scope {scope}) may not plan for region {got}",
    },
})


@dataclass(frozen=True, slots=True)
class RegionRow:
    """A region of the page: the report's figures, the table's baseline and target, the plan at the low target."""

    coverage: RegionCoverage
    known: RegionUcj | None
    plan: UcjPlan | None

    @property
    def code(self) -> str:
        return self.coverage.region_code

    @property
    def name(self) -> str:
        return self.known.name if self.known else self.code


def pct_attr(value: Decimal) -> str:
    """A percentage for an attribute or a URL: ``40``, ``42.5``, ``40.37`` (no exponent, no trailing zeros)."""
    return f"{value.normalize():f}"


def pct_text(value: Decimal, lang: str) -> str:
    """A percentage with as many decimals as it has: ``40 %``, ``42,5 %``, ``40,37 %``."""
    return i18n.percent(value, max(0, -int(value.normalize().as_tuple().exponent)), lang)


def _documents(request: Request, user: WebUser) -> tuple[list[dict[str, Any]], list[str] | None]:
    """The coverage report(s) the principal may read, and the region codes its scope reaches (None: all)."""
    scope = user.actor.scope
    if scope.is_all:
        return [report(request, user, "coverage")], None
    entries = visible_agreements(request, user)
    if not entries:
        return [report(request, user, "coverage")], []  # refused as the API refuses it: no agreement to name
    documents = [report(request, user, "coverage", agreement=e.code) for e in entries]
    parents = [scope.value] if scope.kind == "region" else sorted({e.region_code for e in entries})
    return documents, parents


def _months_text(user: WebUser, months: int) -> str:
    return user.t("coverage.months.one") if months == 1 else user.t("coverage.months.many", n=months)


def _parse(user: WebUser, target: str | None, months: str | None) -> tuple[Decimal | None, int]:
    """The typed target and months (refused on the page naming the field, in the page's language)."""
    chosen_target = None
    if target is not None and target.strip():
        try:
            chosen_target = parse_target_pct(target)
        except InvalidInput:
            raise InvalidInput("target", user.t("coverage.bad.target", min=TARGET_MIN_PCT, max=TARGET_MAX_PCT,
                                                got=repr(target[:20]))) from None
    chosen_months = MONTHS_DEFAULT
    if months is not None and months.strip():
        try:
            chosen_months = parse_months(months)
        except InvalidInput:
            raise InvalidInput("months", user.t("coverage.bad.months", min=MONTHS_MIN, max=MONTHS_MAX,
                                                got=repr(months[:20]))) from None
    return chosen_target, chosen_months


@router.get(PATH, response_class=HTMLResponse)
def coverage(request: Request, user: User, region: Text = None, target: Text = None,
             months: Text = None) -> HTMLResponse:
    require_read(user, READ)
    documents, parents = _documents(request, user)
    day = date.fromisoformat(documents[0]["on"])
    known = ucj_targets_on(day)
    rate_rp = plan_rate_rp(day)
    every = region_coverage(documents)
    reached = {code: c for code, c in every.items() if parents is None or any(region_within(code, p) for p in parents)}

    chosen_region = (region or "").strip() or None
    if chosen_region is not None:
        if chosen_region not in every and chosen_region not in known:
            raise InvalidInput("region", user.t("coverage.bad.region", got=repr(chosen_region)))
        if parents is not None and not any(region_within(chosen_region, p) for p in parents):
            raise Forbidden("region", user.t("coverage.forbidden.region", name=user.actor.name,
                                             scope=str(user.actor.scope), got=chosen_region))
        if chosen_region not in reached:
            raise InvalidInput("region", user.t("coverage.bad.no_workforce", got=chosen_region,
                                                on=i18n.long_date(day, user.lang)))
    chosen_target, chosen_months = _parse(user, target, months)

    def plan_of(c: RegionCoverage, target_pct: Decimal) -> UcjPlan:
        entry = known.get(c.region_code)
        return plan(c, target_pct, chosen_months, rate_rp, entry.baseline_pct if entry else None)

    rows = [RegionRow(c, known.get(code), plan_of(c, known[code].target_low_pct) if code in known else None)
            for code, c in reached.items()]
    if chosen_region is None:
        chosen_region = next((r.code for r in rows if r.known), rows[0].code if rows else None)

    selected = next((r for r in rows if r.code == chosen_region), None)
    result = target_rows = None
    if selected is not None:
        default = selected.known.target_low_pct if selected.known else TARGET_DEFAULT_PCT
        result = plan_of(selected.coverage, chosen_target if chosen_target is not None else default)
        if selected.known:
            target_rows = [plan_of(selected.coverage, t) for t in selected.known.targets_pct]

    chart = {
        "type": "bar", "money": False, "percent": True, "labels": [r.name for r in rows],
        "datasets": [
            {"label": user.t("coverage.ds.ucj"), "data": [round(float(r.coverage.ucj_pct), 2) for r in rows]},
            {"label": user.t("coverage.ds.baseline"),
             "data": [float(r.known.baseline_pct) if r.known else None for r in rows]},
            {"label": user.t("coverage.ds.target_low"),
             "data": [float(r.known.target_low_pct) if r.known else None for r in rows]},
            {"label": user.t("coverage.ds.target_high"),
             "data": [float(r.known.target_high_pct) if r.known else None for r in rows]},
        ],
    }
    return render(request, user, "coverage.html", {
        "rows": rows, "chart": chart, "report": documents[0], "selected": selected, "result": result,
        "target_rows": target_rows, "months": chosen_months, "months_text": _months_text(user, chosen_months),
        "rate_rp": rate_rp, "day": day, "pct_attr": pct_attr,
        "pct": lambda v: pct_text(v, user.lang),
        "bounds": {"target_min": TARGET_MIN_PCT, "target_max": TARGET_MAX_PCT, "months_min": MONTHS_MIN,
                   "months_max": MONTHS_MAX},
        "typed": {"region": chosen_region, "target": target, "months": months},
    })

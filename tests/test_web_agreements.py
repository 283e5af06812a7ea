"""Perjanjian / Agreements: the agreements of the principal's scope, and one agreement's members month by month,
by role and village, and its payment calendar — the figures of the members, reconciliation and balances reports."""

from __future__ import annotations

import calendar
import re
from datetime import date, datetime
from typing import Any

from eventstore.bootstrap import Ledger
from ledger.business_time import parse_instant
from ledger.values import Role
from projections.reports import build_report
from tests.conftest import events_count
from tests.web_support import add_user, sign_in, web_client

LISTED = re.compile(r'<tr data-agreement="([^"]+)"')
ACTIVE = re.compile(r'<tr data-period="(\d{4}-\d{2})"><th scope="row">[^<]*</th><td class="num" data-active="(\d+)"')
CALENDAR_ROW = re.compile(r'<tr data-period="(\d{4}-\d{2})" data-state="(paid|partial|outstanding)">(.*?)</tr>', re.S)
CELL = re.compile(r'<td class="num">([^<]*)</td>')
NIK = re.compile(r"(?<!\d)\d{16}(?!\d)")
RENTAN = "SKW-RENTAN-2025"


def built(ledger: Ledger, name: str, agreement: str, on: date | None = None,
          as_of: datetime | None = None) -> dict[str, Any]:
    return build_report(ledger.store, name, on, as_of, ledger.clock.now(), agreement)


def rows(document: dict[str, Any], section: str) -> list[dict[str, Any]]:
    s = document["sections"][section]
    return [dict(zip(s["columns"], r, strict=True)) for r in s["rows"]]


def active_rows(html: str) -> dict[str, int]:
    table = html.split('<table id="active-by-month">')[1].split("</table>")[0]
    return {month: int(n) for month, n in ACTIVE.findall(table)}


def signed_in(ledger: Ledger, name: str, role: Role, scope: str = "all") -> Any:
    add_user(ledger, name, role, scope=scope)
    client = web_client(ledger)
    sign_in(client, name)
    return client


def test_singkawang_finance_sees_its_agreements_and_the_vulnerable_cohort_ending_in_may_2026(
        demo_ledger: Ledger) -> None:
    client = signed_in(demo_ledger, "keuangan.skw", Role.FINANCE, "payer:PEMKOT-SKW")
    listing = client.get("/agreements")
    assert listing.status_code == 200, listing.text
    assert LISTED.findall(listing.text) == ["SKW-RENTAN-2025", "SKW-SAWIT-2025"]
    assert 'href="/agreements/SKW-RENTAN-2025"' in listing.text and "Pemkab" not in listing.text

    page = client.get(f"/agreements/{RENTAN}")
    assert page.status_code == 200, page.text
    members = built(demo_ledger, "members", RENTAN)
    expected = {r["month"]: r["active"] for r in rows(members, "active_by_month") if r["agreement"] == RENTAN}
    shown = active_rows(page.text)
    assert shown == expected and shown
    assert shown["2026-04"] > 0 and shown["2026-05"] == 0  # the seed rule: the vulnerable cohort ends in May 2026
    assert "Mei 2026: peserta aktif turun dari" in page.text
    summary = next(r for r in rows(members, "by_agreement") if r["agreement"] == RENTAN)
    assert shown[max(shown)] == summary["active"]  # the month of today is the report's own active count
    flows = page.text.split('<table id="enrolments-lapses">')[1].split("</table>")[0]
    for r in rows(members, "by_month"):
        assert f'data-period="{r["month"]}"' in flows
        assert f'data-lapses-funding-ended="{r["lapses_funding_ended"]}"' in flows
    assert page.text.count('<canvas role="img"') == 3  # active, flows, calendar (no active member: no role chart)
    assert not NIK.search(page.text)


def test_the_payment_calendar_is_the_balances_and_reconciliation_reports(demo_ledger: Ledger) -> None:
    code, on = "BKY-DESA-2025", date(2025, 9, 30)
    client = signed_in(demo_ledger, "auditor.cal", Role.AUDITOR)
    page = client.get(f"/agreements/{code}?on={on}")
    assert page.status_code == 200, page.text
    balances = {r["period"]: r for r in rows(built(demo_ledger, "balances", code, on), "by_agreement_period")
                if r["agreement"] == code}
    billed = {r["period"]: r["billed_rp"] for r in rows(built(demo_ledger, "reconciliation", code, on), "months")}
    table = page.text.split('<table id="payment-calendar">')[1].split("</table>")[0]
    found = CALENDAR_ROW.findall(table)
    assert [p for p, _, _ in found] == sorted(set(balances) | set(billed))
    for period, state, cells in found:
        cell = balances[period]
        assert CELL.findall(cells) == [f"{cell['members_expected']:,}".replace(",", "."),
                                       *(_rp(v) for v in (cell["expected_rp"], billed[period], cell["paid_rp"],
                                                          cell["outstanding_rp"]))]
        want = "paid" if cell["outstanding_rp"] <= 0 else "partial" if cell["paid_rp"] else "outstanding"
        assert state == want
    members = built(demo_ledger, "members", code, on)
    assert rows(members, "by_role") and rows(members, "by_village")  # Bengkayang's village scheme records villages
    for r in rows(members, "by_role"):
        row = f'<tr data-role="{r["role"]}"><th scope="row">{r["role"]}</th><td class="num">{r["active"]}<'
        assert row in page.text
    for r in rows(members, "by_village"):
        assert f'<tr data-village="{r["village"]}"><th scope="row">{r["village"]}</th><td class="num">' in page.text
    assert page.text.count('<canvas role="img"') == 4


def _rp(amount: int) -> str:
    return ("-" if amount < 0 else "") + "Rp" + f"{abs(amount):,}".replace(",", ".")


def test_active_by_month_is_the_members_report_on_each_months_last_day(demo_ledger: Ledger) -> None:
    client = signed_in(demo_ledger, "auditor.months", Role.AUDITOR)
    on = date(2026, 3, 15)
    page = client.get(f"/agreements/{RENTAN}?on={on}")
    assert page.status_code == 200, page.text
    shown = active_rows(page.text)
    assert max(shown) == "2026-03"  # no month after the report's day
    for month, count in shown.items():
        year, m = (int(x) for x in month.split("-"))
        day = min(date(year, m, calendar.monthrange(year, m)[1]), on)
        then = next(r for r in rows(built(demo_ledger, "members", RENTAN, on=day), "by_agreement")
                    if r["agreement"] == RENTAN)
        assert count == then["active"], month


def test_as_of_shows_what_was_known_then(demo_ledger: Ledger) -> None:
    client = signed_in(demo_ledger, "auditor.asof", Role.AUDITOR)
    as_of = "2026-03-10T12:00:00"
    page = client.get(f"/agreements/{RENTAN}?as_of={as_of}")
    assert page.status_code == 200, page.text
    then = built(demo_ledger, "members", RENTAN, as_of=parse_instant(as_of))
    assert active_rows(page.text) == {r["month"]: r["active"] for r in rows(then, "active_by_month")
                                      if r["agreement"] == RENTAN}
    assert active_rows(page.text) != active_rows(client.get(f"/agreements/{RENTAN}").text)  # the lapses came later


def test_an_agreement_outside_the_scope_is_forbidden_and_an_unknown_one_not_found(demo_ledger: Ledger) -> None:
    client = signed_in(demo_ledger, "keuangan.skw2", Role.FINANCE, "payer:PEMKOT-SKW")
    before = events_count(demo_ledger)
    outside = client.get("/agreements/BKY-DESA-2025")
    assert outside.status_code == 403
    assert 'id="active-by-month"' not in outside.text and 'id="payment-calendar"' not in outside.text
    unknown = client.get("/agreements/NOPE-2025")
    assert unknown.status_code == 404 and "<code>code</code>" in unknown.text and "NOPE-2025" in unknown.text
    script = client.get("/agreements/%3Cscript%3Ealert(1)")
    assert script.status_code == 404 and "<code>code</code>" in script.text
    assert "<script>alert(1)" not in script.text and "&lt;script&gt;alert(1)" in script.text
    future = client.get(f"/agreements/{RENTAN}?on=2027-01-01")
    assert future.status_code == 422 and "<code>on</code>" in future.text
    bad_as_of = client.get(f"/agreements/{RENTAN}?as_of=yesterday")
    assert bad_as_of.status_code == 422 and "<code>as_of</code>" in bad_as_of.text
    assert events_count(demo_ledger) == before


def test_an_operator_sees_the_members_but_not_the_money_and_a_claims_officer_nothing(demo_ledger: Ledger) -> None:
    operator = signed_in(demo_ledger, "operator.agr", Role.OPERATOR)
    page = operator.get(f"/agreements/{RENTAN}")
    assert page.status_code == 200, page.text
    assert 'id="active-by-month"' in page.text and 'id="payment-calendar"' not in page.text
    assert "Kalender pembayaran hanya untuk peran" in page.text
    officer = signed_in(demo_ledger, "klaim.agr", Role.CLAIMS_OFFICER)
    assert 'href="/agreements"' not in officer.get("/claims").text  # not in its menu
    for path in ("/agreements", f"/agreements/{RENTAN}"):
        refused = officer.get(path)
        assert refused.status_code == 403 and "klaim.agr may not open this page" in refused.text


def test_english(demo_ledger: Ledger) -> None:
    client = signed_in(demo_ledger, "auditor.agr.en", Role.AUDITOR)
    client.cookies.set("jamsos_lang", "en")
    page = client.get(f"/agreements/{RENTAN}")
    assert page.status_code == 200
    assert "Active members by month" in page.text and "May 2026: active members fell from" in page.text
    assert "Payment calendar" in page.text

"""Klaim / Claims: the register of claims with its filters, claims paid against contributions per agreement, days to
payment and amounts by benefit component — the figures of the claims and balances reports, no member named."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest

from eventstore.bootstrap import Ledger
from ledger.values import Role
from projections.reports import build_report
from tests.conftest import events_count
from tests.web_support import add_user, sign_in, web_client

CLAIM_ROW = re.compile(r'<tr data-claim="([^"]+)"')
VERSUS_ROW = re.compile(r'<tr data-agreement="([^"]+)">\s*<th scope="row">[^<]*</th>\s*'
                        r'<td class="num">([^<]*)</td>\s*<td class="num">([^<]*)</td>\s*<td class="num">([^<]*)</td>\s*'
                        r'<td class="num" data-ratio="([^"]*)">([^<]*)</td>')
OPTION = re.compile(r'<option value="([^"]*)"')
NIK = re.compile(r"(?<!\d)\d{16}(?!\d)")
MEMBER_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def built(ledger: Ledger, name: str, agreement: str | None = None) -> dict[str, Any]:
    return build_report(ledger.store, name, None, None, ledger.clock.now(), agreement)


def rows(document: dict[str, Any], section: str) -> list[dict[str, Any]]:
    s = document["sections"][section]
    return [dict(zip(s["columns"], r, strict=True)) for r in s["rows"]]


def table(html: str, table_id: str) -> str:
    return html.split(f'<table id="{table_id}">')[1].split("</table>")[0]


def signed_in(ledger: Ledger, name: str, role: Role, scope: str = "all") -> Any:
    add_user(ledger, name, role, scope=scope)
    client = web_client(ledger)
    sign_in(client, name)
    return client


def _rp(amount: int) -> str:
    return ("-" if amount < 0 else "") + "Rp" + f"{abs(amount):,}".replace(",", ".")


def test_finance_sees_every_claim_and_claims_paid_against_contributions(demo_ledger: Ledger) -> None:
    client = signed_in(demo_ledger, "keuangan.klaim", Role.FINANCE)
    page = client.get("/claims")
    assert page.status_code == 200, page.text
    claims, balances = built(demo_ledger, "claims"), built(demo_ledger, "balances")
    register = rows(claims, "register")
    assert CLAIM_ROW.findall(table(page.text, "claims-register")) == [r["claim"] for r in register] != []
    assert len(register) == claims["totals"]["claims"]
    contributions: dict[str, int] = {}
    for r in rows(balances, "by_agreement_period"):
        contributions[r["agreement"]] = contributions.get(r["agreement"], 0) + r["paid_rp"]
    paid_out = {r["agreement"]: r for r in rows(claims, "by_agreement")}
    shown = {m[0]: m[1:] for m in VERSUS_ROW.findall(table(page.text, "claims-vs-contributions"))}
    assert "PNK-SOSIAL-2025" in shown and set(paid_out) <= set(shown)
    for code, (n, out_rp, in_rp, ratio_value, ratio_text) in shown.items():
        out = paid_out.get(code, {"claims": 0, "paid_rp": 0})
        assert (n, out_rp, in_rp) == (str(out["claims"]), _rp(out["paid_rp"]), _rp(contributions.get(code, 0)))
        if contributions.get(code):
            ratio = Decimal(out["paid_rp"]) / Decimal(contributions[code])
            assert Decimal(ratio_value) == ratio.quantize(Decimal("0.001"), rounding=ROUND_HALF_UP)
            assert ratio_text == str(ratio.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)).replace(".", ",") + "×"
    assert shown["PNK-SOSIAL-2025"][4].endswith("×") and "," in shown["PNK-SOSIAL-2025"][4]
    components = table(page.text, "claims-components")
    for r in rows(claims, "by_component"):
        assert f'data-component="{r["component"]}"' in components and _rp(r["paid_rp"]) in components
    days = [r["days_to_payment"] for r in register if r["days_to_payment"] is not None]
    average = str(claims["totals"]["days_submission_to_payment_avg"]).replace(".", ",")
    assert f"{len(days)} klaim dibayar: rata-rata {average} hari" in page.text
    assert page.text.count('<canvas role="img"') == 3
    assert not NIK.search(page.text) and not MEMBER_ID.search(page.text)


def test_the_filters_narrow_the_register(demo_ledger: Ledger) -> None:
    client = signed_in(demo_ledger, "klaim.filter", Role.CLAIMS_OFFICER)
    register = rows(built(demo_ledger, "claims"), "register")
    kind = register[0]["claim_type"]
    month = register[0]["event_date"][:7]
    cases = {f"claim_type={kind}": [r for r in register if r["claim_type"] == kind],
             "status=PAID": [r for r in register if r["status"] == "PAID"],
             "status=REJECTED": [r for r in register if r["status"] == "REJECTED"],
             f"month={month}": [r for r in register if r["event_date"].startswith(month)],
             f"claim_type={kind}&month={month}&agreement={register[0]['agreement']}":
                 [r for r in register if r["claim_type"] == kind and r["event_date"].startswith(month)
                  and r["agreement"] == register[0]["agreement"]]}
    for query, want in cases.items():
        page = client.get(f"/claims?{query}")
        assert page.status_code == 200, (query, page.text)
        found = CLAIM_ROW.findall(table(page.text, "claims-register")) if want else []
        assert found == [r["claim"] for r in want], query
        if not want:
            assert "Tidak ada klaim yang sesuai dengan saringan." in page.text
    page = client.get(f"/claims?month={month}")
    assert f'<input type="month" id="filter-month" name="month" value="{month}"' in page.text
    assert 'id="claim-filters"' in page.text


def test_a_scoped_principal_sees_only_its_agreements_the_first_by_default(demo_ledger: Ledger) -> None:
    client = signed_in(demo_ledger, "keuangan.bky.klaim", Role.FINANCE, "payer:PEMKAB-BKY")
    page = client.get("/claims")
    assert page.status_code == 200, page.text
    form = page.text.split('id="claim-filters"')[1].split("</form>")[0]
    agreements = form.split('id="filter-agreement"')[1].split("</select>")[0]
    assert OPTION.findall(agreements) == ["BKY-DESA-2025", "BKY-SAWIT-2025"]  # no "all" option
    own = rows(built(demo_ledger, "claims", "BKY-DESA-2025"), "register")
    assert CLAIM_ROW.findall(page.text) == [r["claim"] for r in own] != []
    assert re.findall(r'<tr data-agreement="([^"]+)"', table(page.text, "claims-vs-contributions")) == [
        "BKY-DESA-2025"]
    assert "PNK-" not in page.text and "KDI-" not in page.text
    other = client.get("/claims?agreement=BKY-SAWIT-2025")
    assert other.status_code == 200 and 'value="BKY-SAWIT-2025" selected' in other.text
    before = events_count(demo_ledger)
    outside = client.get("/claims?agreement=PNK-SOSIAL-2025")
    assert outside.status_code == 403 and 'id="claims-register"' not in outside.text
    assert events_count(demo_ledger) == before


@pytest.mark.parametrize(("query", "field"), [
    ("agreement=NOPE-2025", "agreement"), ("claim_type=JKK_FLOOD", "claim_type"), ("claim_type=paid", "claim_type"),
    ("status=LOST", "status"), ("month=2025-13", "month"), ("month=May", "month"), ("month=2025-1-1", "month"),
    ("on=2027-01-01", "on"), ("as_of=soon", "as_of"), ("month=" + "9" * 300, "month"),
])
def test_an_unknown_filter_value_is_refused_naming_the_field(demo_ledger: Ledger, query: str, field: str) -> None:
    client = signed_in(demo_ledger, "klaim.bad", Role.CLAIMS_OFFICER)
    before = events_count(demo_ledger)
    page = client.get(f"/claims?{query}")
    assert page.status_code == 422, page.text
    assert f"<code>{field}</code>" in page.text and 'id="claims-register"' not in page.text
    assert events_count(demo_ledger) == before


def test_script_in_a_filter_is_text(demo_ledger: Ledger) -> None:
    client = signed_in(demo_ledger, "klaim.xss", Role.CLAIMS_OFFICER)
    for field in ("agreement", "claim_type", "status", "month"):
        page = client.get(f"/claims?{field}=%3Cscript%3Ealert(1)%3C%2Fscript%3E")
        assert page.status_code == 422 and f"<code>{field}</code>" in page.text
        assert "<script>alert(1)" not in page.text


def test_a_claims_officer_sees_the_claims_but_not_the_contributions_and_an_operator_nothing(
        demo_ledger: Ledger) -> None:
    officer = signed_in(demo_ledger, "klaim.petugas", Role.CLAIMS_OFFICER)
    page = officer.get("/claims")
    assert page.status_code == 200, page.text
    assert 'id="claims-register"' in page.text and 'id="claims-vs-contributions"' not in page.text
    assert "Perbandingan dengan iuran hanya untuk peran" in page.text
    assert 'href="/claims"' in page.text  # in its menu
    operator = signed_in(demo_ledger, "operator.klaim", Role.OPERATOR)
    refused = operator.get("/claims")
    assert refused.status_code == 403 and 'id="claims-register"' not in refused.text
    assert 'href="/claims"' not in operator.get("/agreements").text


def test_english(demo_ledger: Ledger) -> None:
    client = signed_in(demo_ledger, "auditor.klaim.en", Role.AUDITOR)
    client.cookies.set("jamsos_lang", "en")
    page = client.get("/claims")
    assert page.status_code == 200
    assert "Register of claims" in page.text and "Claims paid against contributions" in page.text
    ratio = re.search(r'data-agreement="PNK-SOSIAL-2025">.*?data-ratio="[^"]*">([^<]*)<', page.text, re.S)
    assert ratio and re.fullmatch(r"\d+\.\d×", ratio.group(1))

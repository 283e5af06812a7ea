"""Rekonsiliasi / Reconciliation: an agreement's money per month and its payer's open exceptions; finance uploads a
statement, runs the matching and resolves exceptions — as the signed-in principal, inside its scope, never twice."""

from __future__ import annotations

import io
import json
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from api.web import statement_upload
from eventstore.bootstrap import Ledger
from ledger.values import Role
from projections.money_views import MoneyViews, invoice_outstanding, reconciliation_report
from tests.conftest import events_count
from tests.web_statements import UNKNOWN_REFERENCE, bengkayang_statement, corrupt_xlsx, unbalanced_mt940
from tests.web_support import AFTER_DEMO, add_user, sign_in, web_client

DESA = "BKY-DESA-2025"
EXCEPTION_ROW = re.compile(r'<tr data-exception="([0-9a-f]+):(\d+)"')
COUNT = re.compile(r'id="open-exceptions-count" data-count="(\d+)"')


def finance(ledger: Ledger, name: str = "keuangan.bky", scope: str = "payer:PEMKAB-BKY") -> tuple[TestClient, str]:
    add_user(ledger, name, Role.FINANCE, scope=scope)
    client = web_client(ledger)
    return client, sign_in(client, name)


def upload(client: TestClient, token: str | None, name: str, content: bytes, agreement: str = DESA,
           **fields: str) -> Any:
    data = {"agreement": agreement, **fields, **({"csrf_token": token} if token is not None else {})}
    return client.post("/reconciliation/statements", data=data, files={"statement": (name, content, "text/csv")})


def refusal(html: str) -> tuple[str, str]:
    found = re.search(r'data-field="([^"]*)".*?<dd><code>([^<]*)</code></dd>\s*<dt>[^<]*</dt><dd>([^<]*)</dd>',
                      html, re.S)
    assert found, "the page names no refused field"
    assert found.group(1) == found.group(2)
    return found.group(2), found.group(3)


def agreements_offered(html: str) -> list[str]:
    select = html.split('id="pick-agreement"')[1].split("</select>")[0]
    return re.findall(r'<option value="([^"]+)"', select)


def new_events(ledger: Ledger, before: int) -> list[dict[str, Any]]:
    return [json.loads(state) for _p, _i, _v, _topic, state in ledger.store.read_log(before, 1000)]


def report_of(ledger: Ledger, code: str) -> tuple[dict[str, Any], dict[str, Any]]:
    return reconciliation_report(MoneyViews(ledger.store), code, AFTER_DEMO.date())


# --- reading ------------------------------------------------------------------------------------------


def test_finance_of_bengkayang_sees_its_agreements_months_and_budget_and_no_other_payer(demo_ledger: Ledger) -> None:
    client, _ = finance(demo_ledger)
    page = client.get("/reconciliation")
    assert page.status_code == 200, page.text
    assert agreements_offered(page.text) == ["BKY-DESA-2025", "BKY-SAWIT-2025"]
    assert "<h1>Rekonsiliasi: BKY-DESA-2025</h1>" in page.text  # the first of the scope by default
    sections, totals = report_of(demo_ledger, DESA)
    months = re.findall(r'<tr data-period="(\d{4}-\d{2})">', page.text)
    assert months == [row[0] for row in sections["months"]["rows"]]
    assert 'data-status="OVER_BUDGET"' in page.text  # the seed's rule: Bengkayang's village scheme is short
    assert "<canvas" in page.text and 'id="months"' in page.text
    received = sum(row[6] for row in sections["months"]["rows"])
    tfoot = page.text.split('<table id="months">')[1].split("<tfoot>")[1].split("</tfoot>")[0]
    assert f"Rp{received:,}".replace(",", ".") in tfoot
    assert f"Rp{totals['refunds_due_rp']:,}".replace(",", ".") in page.text
    assert COUNT.search(page.text).group(1) == str(totals["open_exceptions"])  # type: ignore[union-attr]
    assert "Pemkot" not in page.text and "BAZNAS" not in page.text


def test_another_payers_agreement_is_a_403_page_not_an_empty_table(demo_ledger: Ledger) -> None:
    client, _ = finance(demo_ledger)
    page = client.get("/reconciliation?agreement=SKW-RENTAN-2025")
    assert page.status_code == 403
    assert 'id="exceptions"' not in page.text and "SKW-RENTAN-2025" in page.text
    assert client.get("/reconciliation/exceptions.xlsx?agreement=SKW-RENTAN-2025").status_code == 403


def test_an_unknown_agreement_is_not_found_and_an_operator_may_not_open_the_page(demo_ledger: Ledger) -> None:
    add_user(demo_ledger, "pusat.keu", Role.FINANCE)
    add_user(demo_ledger, "operator.web", Role.OPERATOR)
    client = web_client(demo_ledger)
    sign_in(client, "pusat.keu")
    page = client.get("/reconciliation?agreement=XXX-NONE")
    assert page.status_code == 404 and "<code>agreement</code>" in page.text
    sign_in(client, "operator.web")
    page = client.get("/reconciliation")
    assert page.status_code == 403 and 'id="exceptions"' not in page.text


def test_singkawangs_stray_transfer_is_listed_with_its_age_and_downloads_as_xlsx(demo_ledger: Ledger) -> None:
    client, _ = finance(demo_ledger, "pusat.keu", "all")
    page = client.get("/reconciliation?agreement=SKW-RENTAN-2025")
    assert page.status_code == 200
    sections, _ = report_of(demo_ledger, "SKW-RENTAN-2025")
    expected = [(row[0], str(row[1])) for row in sections["open_exceptions"]["rows"]]
    assert expected and EXCEPTION_ROW.findall(page.text) == expected
    statement, line = expected[0]
    row = page.text.split(f'data-exception="{statement}:{line}"')[1].split("</tr>")[0]
    age = sections["open_exceptions"]["rows"][0][7]
    assert f'data-age-days="{age}"' in row and f"{age} hari" in row
    link = re.search(r'<a id="exceptions-xlsx" href="([^"]+)"', page.text)
    assert link
    workbook = client.get(link.group(1).replace("&amp;", "&"))
    assert workbook.status_code == 200
    assert workbook.headers["content-disposition"].startswith('attachment; filename="reconciliation-exceptions-')
    sheet = load_workbook(io.BytesIO(workbook.content), read_only=True)["open_exceptions"]
    cells = [c for r in sheet.iter_rows(values_only=True) for c in r if c is not None]
    assert statement in cells and UNKNOWN_REFERENCE not in cells


def test_an_auditor_sees_but_is_offered_no_form_and_a_forged_one_writes_nothing(demo_ledger: Ledger) -> None:
    add_user(demo_ledger, "auditor.web", Role.AUDITOR)
    client = web_client(demo_ledger)
    token = sign_in(client, "auditor.web")
    page = client.get("/reconciliation?agreement=SKW-RENTAN-2025")
    assert page.status_code == 200 and EXCEPTION_ROW.findall(page.text)
    for form in ('id="statement-upload"', 'id="run-matching"', 'class="resolve"'):
        assert form not in page.text
    assert 'id="read-only"' in page.text
    statement, line = EXCEPTION_ROW.findall(page.text)[0]
    before = events_count(demo_ledger)
    name, content = "bky.csv", b"# period: 2026-12-01..2026-12-01\nsp2d_number,date,amount\nX-1,2026-12-01,100\n"
    posts = [upload(client, token, name, content, "SKW-RENTAN-2025"),
             client.post("/reconciliation/runs", data={"csrf_token": token, "agreement": "SKW-RENTAN-2025"}),
             client.post("/reconciliation/resolutions", data={
                 "csrf_token": token, "agreement": "SKW-RENTAN-2025", "statement_id": statement, "line_no": line,
                 "action": "WRITE_OFF", "note": "forged"})]
    assert [p.status_code for p in posts] == [403, 403, 403]
    assert all("auditor.web (auditor) may not run reconcile." in p.text for p in posts)
    assert events_count(demo_ledger) == before


# --- the whole round: upload, match, resolve -------------------------------------------------------------


def test_finance_uploads_matches_and_resolves_and_each_event_names_it(demo_ledger: Ledger) -> None:
    client, token = finance(demo_ledger)
    name, content = bengkayang_statement(demo_ledger)
    before = events_count(demo_ledger)
    sent = upload(client, token, name, content)
    assert sent.status_code == 303, sent.text
    assert all(e["actor"] == "keuangan.bky" for e in new_events(demo_ledger, before))
    page = client.get(sent.headers["location"])
    result = re.search(r'id="upload-result"[^>]*data-lines-read="(\d+)" data-new-lines="(\d+)"', page.text)
    assert result and result.groups() == ("2", "2")

    again = events_count(demo_ledger)  # the same statement again: nothing recorded, and the page says so
    resent = upload(client, token, name, content)
    assert resent.status_code == 303 and events_count(demo_ledger) == again
    page = client.get(resent.headers["location"])
    assert 'data-new-lines="0" data-already-imported="1"' in page.text and "sudah diimpor sebelumnya" in page.text

    _, totals = report_of(demo_ledger, DESA)
    ran = client.post("/reconciliation/runs", data={"csrf_token": token, "agreement": DESA})
    assert ran.status_code == 303
    page = client.get(ran.headers["location"])
    run = re.search(r'id="run-result"[^>]*data-matched="(\d+)" data-matched-rp="(\d+)" data-raised="(\d+)"', page.text)
    assert run and int(run.group(1)) >= 1 and int(run.group(2)) > 0 and int(run.group(3)) >= 1
    open_now = int(COUNT.search(page.text).group(1))  # type: ignore[union-attr]
    assert open_now == totals["open_exceptions"] + int(run.group(3))
    statement, line = EXCEPTION_ROW.findall(page.text)[-1]

    before = events_count(demo_ledger)
    done = client.post("/reconciliation/resolutions", data={
        "csrf_token": token, "agreement": DESA, "statement_id": statement, "line_no": line, "action": "WRITE_OFF",
        "note": "bukan iuran: dikembalikan ke pengirim"})
    assert done.status_code == 303, done.text
    written = new_events(demo_ledger, before)
    assert written and all(e["actor"] == "keuangan.bky" for e in written)
    page = client.get(done.headers["location"])
    assert int(COUNT.search(page.text).group(1)) == open_now - 1  # type: ignore[union-attr]
    assert f'data-exception="{statement}:{line}"' not in page.text and 'id="resolve-result"' in page.text


def test_a_refused_resolution_names_its_field_and_writes_nothing(demo_ledger: Ledger) -> None:
    client, token = finance(demo_ledger)
    name, content = bengkayang_statement(demo_ledger)
    assert upload(client, token, name, content).status_code == 303
    page = client.get(client.post("/reconciliation/runs", data={"csrf_token": token, "agreement": DESA})
                      .headers["location"])
    statement, line = EXCEPTION_ROW.findall(page.text)[-1]
    base = {"csrf_token": token, "agreement": DESA, "statement_id": statement, "line_no": line}
    cases = [({"action": "MATCH", "note": "cocok"}, "invoice", 422),
             ({"action": "WRITE_OFF", "note": "   "}, "note", 422),
             ({"action": "DELETE", "note": "x"}, "action", 422),
             ({"action": "WRITE_OFF", "note": "x", "line_no": "satu"}, "line_no", 422),
             ({"action": "WRITE_OFF", "note": "x", "line_no": "999"}, "line_no", 404),
             ({"action": "MATCH", "note": "x", "invoice_refs": "INV-TIDAK-ADA"}, "invoice", 404)]
    before = events_count(demo_ledger)
    for fields, field, status in cases:
        page = client.post("/reconciliation/resolutions", data={**base, **fields})
        assert page.status_code == status, (fields, page.text[-2000:])
        assert refusal(page.text)[0] == field, fields
        assert f'data-exception="{statement}:{line}"' in page.text  # the page, to try again
    assert events_count(demo_ledger) == before


def test_bengkayangs_finance_may_not_resolve_singkawangs_exception(demo_ledger: Ledger) -> None:
    sections, _ = report_of(demo_ledger, "SKW-RENTAN-2025")
    statement, line = sections["open_exceptions"]["rows"][0][:2]
    client, token = finance(demo_ledger)
    before = events_count(demo_ledger)
    for agreement in (DESA, "SKW-RENTAN-2025"):
        page = client.post("/reconciliation/resolutions", data={
            "csrf_token": token, "agreement": agreement, "statement_id": statement, "line_no": str(line),
            "action": "WRITE_OFF", "note": "bukan urusan kami"})
        assert page.status_code == 403, agreement
    page = client.post("/reconciliation/runs", data={"csrf_token": token, "agreement": "SKW-RENTAN-2025"})
    assert page.status_code == 403
    assert events_count(demo_ledger) == before


# --- bad uploads and forms -------------------------------------------------------------------------------


@pytest.mark.parametrize("case", ["corrupt-xlsx", "unbalanced-mt940", "empty", "too-large", "wrong-extension",
                                  "no-file", "blank-name", "bad-line", "bad-period"])
def test_a_bad_upload_is_the_page_naming_statement_and_writes_nothing(demo_ledger: Ledger, case: str) -> None:
    client, token = finance(demo_ledger)
    _, good = bengkayang_statement(demo_ledger)  # may bill first: counted before
    field, fields = "statement", {}
    files: tuple[str, bytes] = {
        "corrupt-xlsx": ("rekening.xlsx", corrupt_xlsx()),
        "unbalanced-mt940": ("rekening.sta", unbalanced_mt940(demo_ledger)),
        "empty": ("rekening.csv", b""),
        "too-large": ("rekening.csv", good + b"#" * statement_upload.STATEMENT_BYTES_MAX),
        "wrong-extension": ("rekening.pdf", good),
        "blank-name": ("", good),
        "bad-line": ("rekening.csv", good.replace(b",2026-12-01,", b",2026-13-01,", 1)),
        "bad-period": ("rekening.csv", good),
    }.get(case, ("", b""))
    if case == "bad-period":
        field, fields = "period_start", {"period_start": "2026-02-31"}
    before = events_count(demo_ledger)
    if case == "no-file":
        page = client.post("/reconciliation/statements", data={"csrf_token": token, "agreement": DESA})
    else:
        page = upload(client, token, files[0], files[1], **fields)
    assert page.status_code == 422, page.text[-3000:]
    named, reason = refusal(page.text)
    assert named == field
    expected = {"corrupt-xlsx": "not a readable XLSX", "unbalanced-mt940": "does not balance", "empty": "empty",
                "too-large": "larger than", "wrong-extension": "rekening.pdf", "no-file": "no file chosen",
                "blank-name": "no file chosen", "bad-line": "line 4: date", "bad-period": "not a date"}[case]
    assert expected in reason, reason
    assert 'id="statement-upload"' in page.text  # the page with its form, to try again
    assert events_count(demo_ledger) == before


def test_every_post_needs_the_sessions_csrf_token(demo_ledger: Ledger) -> None:
    client, token = finance(demo_ledger)
    name, content = bengkayang_statement(demo_ledger)
    before = events_count(demo_ledger)
    for forged in (None, "", token[::-1]):
        csrf = {} if forged is None else {"csrf_token": forged}
        posts = [upload(client, forged, name, content),
                 client.post("/reconciliation/runs", data={**csrf, "agreement": DESA}),
                 client.post("/reconciliation/resolutions", data={**csrf, "agreement": DESA,
                                                                  "statement_id": "0" * 12, "line_no": "1",
                                                                  "action": "WRITE_OFF", "note": "x"})]
        assert [p.status_code for p in posts] == [403, 403, 403], forged
        assert all("<code>csrf_token</code>" in p.text for p in posts)
    stranger = upload(web_client(demo_ledger), token, name, content)  # no session: to the sign-in page, unread
    assert stranger.status_code == 303 and stranger.headers["location"].startswith("/login?")
    assert events_count(demo_ledger) == before


def test_text_from_the_query_and_the_file_name_is_escaped(demo_ledger: Ledger) -> None:
    client, token = finance(demo_ledger)
    page = client.get(f"/reconciliation?agreement={DESA}&uploaded=%3Cscript%3Ealert(1)%3C/script%3E&read=1&new=1")
    assert page.status_code == 200
    assert "<script>alert(1)" not in page.text and "&lt;script&gt;alert(1)" in page.text
    _, content = bengkayang_statement(demo_ledger)
    sent = upload(client, token, "<script>alert(2).csv", content)
    shown = client.get(sent.headers["location"]).text if sent.status_code == 303 else sent.text
    assert "<script>alert(2)" not in shown and "&lt;script&gt;alert(2)" in shown


def test_the_page_in_english(demo_ledger: Ledger) -> None:
    client, _ = finance(demo_ledger)
    client.cookies.set("jamsos_lang", "en")
    page = client.get("/reconciliation")
    assert page.status_code == 200 and '<html lang="en">' in page.text
    assert "<h1>Reconciliation: BKY-DESA-2025</h1>" in page.text and "Upload a bank statement" in page.text
    assert "Run the matching" in page.text and "Open exceptions" in page.text


def test_the_helper_statement_is_of_today_and_names_the_open_invoice(demo_ledger: Ledger) -> None:
    name, content = bengkayang_statement(demo_ledger)
    assert name.endswith(".csv")
    text = content.decode()
    outstanding = invoice_outstanding(MoneyViews(demo_ledger.store), "PEMKAB-BKY")
    open_refs = [ref for ref, i in outstanding.items() if i["outstanding_rp"] > 0]
    assert len(open_refs) == 1 and open_refs[0] in text and AFTER_DEMO.date().isoformat() in text
    assert bengkayang_statement(demo_ledger) == (name, content)  # the same day, the same statement: no new bill

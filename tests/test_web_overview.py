"""Ringkasan / Overview: the money of every agreement in the principal's scope, and nothing else."""

from __future__ import annotations

import re

from eventstore.bootstrap import Ledger
from ledger.values import Role
from tests.web_support import add_user, sign_in, web_client

ROW = re.compile(r'<tr data-agreement="([^"]+)"')


def test_finance_of_bengkayang_sees_its_agreements_over_budget_and_no_other_payers(demo_ledger: Ledger) -> None:
    add_user(demo_ledger, "keuangan.bky", Role.FINANCE, scope="payer:PEMKAB-BKY")
    client = web_client(demo_ledger)
    sign_in(client, "keuangan.bky")
    page = client.get("/overview")
    assert page.status_code == 200, page.text
    assert ROW.findall(page.text) == ["BKY-DESA-2025", "BKY-SAWIT-2025"]
    desa = page.text.split('data-agreement="BKY-DESA-2025"')[1].split("</tr>")[0]
    assert 'data-status="OVER_BUDGET"' in desa
    assert "Pemkot" not in page.text and "BAZNAS" not in page.text
    assert "<canvas" in page.text and "Rp" in page.text


def test_an_operator_may_not_open_the_overview(demo_ledger: Ledger) -> None:
    add_user(demo_ledger, "operator.web", Role.OPERATOR)
    client = web_client(demo_ledger)
    sign_in(client, "operator.web")
    page = client.get("/overview")
    assert page.status_code == 403
    assert "<table id=\"overview-table\"" not in page.text and "operator.web may not open this page" in page.text


def test_without_a_session_the_overview_sends_to_the_sign_in_page(demo_ledger: Ledger) -> None:
    page = web_client(demo_ledger).get("/overview?on=2026-01-31")
    assert page.status_code == 303 and page.headers["location"].startswith("/login?next=%2Foverview%3Fon%3D2026-01-31")


def test_a_future_date_is_refused_on_the_page_naming_the_field(demo_ledger: Ledger) -> None:
    add_user(demo_ledger, "auditor.web", Role.AUDITOR)
    client = web_client(demo_ledger)
    sign_in(client, "auditor.web")
    page = client.get("/overview?on=2027-01-01")
    assert page.status_code == 422
    assert "<code>on</code>" in page.text and "in the future" in page.text
    assert 'name="on" value="2027-01-01"' in page.text  # the pickers stay, to be corrected


def test_english_by_the_switch(demo_ledger: Ledger) -> None:
    add_user(demo_ledger, "auditor.en", Role.AUDITOR)
    client = web_client(demo_ledger)
    sign_in(client, "auditor.en")
    assert "Ringkasan" in client.get("/overview").text
    switched = client.get("/lang/en?next=/overview")
    assert switched.status_code == 303 and switched.headers["location"] == "/overview"
    page = client.get("/overview")
    assert '<html lang="en">' in page.text and "Overview" in page.text and "over budget" in page.text

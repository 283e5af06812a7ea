"""Signing in to the dashboard: passwords, sessions, lockout, CSRF, and what a page may carry."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient

from api.web.sessions import FAILURES_MAX, LOCKOUT_WINDOW_S, SESSION_IDLE_S
from commands.authorise import local_actor
from commands.handlers import execute
from commands.messages import SetPrincipalPassword, SignAgreement
from commands.passwords import hash_password
from eventstore.bootstrap import Ledger
from eventstore.clock import SimulatedClock
from ledger.values import Role
from tests.conftest import events_count
from tests.web_support import add_user, csrf_in, sign_in, web_client

PASSWORD = "sandi-yang-cukup-panjang"
LOGIN_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def with_password(ledger: Ledger, name: str, role: Role, scope: str = "all") -> None:
    add_user(ledger, name, role, scope=scope)
    execute(ledger, SetPrincipalPassword(name=name, password_argon2=hash_password(PASSWORD, name)), local_actor())


def post_login(client: TestClient, name: str, password: str, next_path: str = "/overview") -> object:
    form = client.get("/login")
    token = LOGIN_CSRF.search(form.text)
    assert token
    return client.post("/login", data={"name": name, "password": password, "csrf_token": token.group(1),
                                       "next": next_path})


def test_sign_in_sets_a_strict_http_only_cookie_and_opens_the_page(demo_ledger: Ledger) -> None:
    with_password(demo_ledger, "keuangan.web", Role.FINANCE)
    client = web_client(demo_ledger)
    answer = post_login(client, "keuangan.web", PASSWORD)
    assert answer.status_code == 303 and answer.headers["location"] == "/overview"
    cookie = next(v for k, v in answer.headers.multi_items() if k == "set-cookie" and v.startswith("jamsos_session="))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Secure" not in cookie
    page = client.get("/overview")
    assert page.status_code == 200 and "keuangan.web" in page.text


def test_over_tls_the_cookie_is_secure(demo_ledger: Ledger) -> None:
    with_password(demo_ledger, "keuangan.tls", Role.FINANCE)
    client = web_client(demo_ledger)
    client.base_url = client.base_url.copy_with(scheme="https")  # type: ignore[assignment]
    answer = post_login(client, "keuangan.tls", PASSWORD)
    cookie = next(v for k, v in answer.headers.multi_items() if k == "set-cookie" and v.startswith("jamsos_session="))
    assert "Secure" in cookie


@pytest.mark.parametrize(("name", "password"), [("keuangan.wrong", "salah-sekali-kata-sandi"),
                                            ("tidak.ada", PASSWORD), ("keuangan.wrong", "")])
def test_a_wrong_password_or_unknown_name_is_refused_alike_and_records_nothing(
        demo_ledger: Ledger, name: str, password: str) -> None:
    with_password(demo_ledger, "keuangan.wrong", Role.FINANCE)
    client = web_client(demo_ledger)
    before = events_count(demo_ledger)
    answer = post_login(client, name, password)
    assert answer.status_code in (401, 422)
    if answer.status_code == 401:
        assert "Nama pengguna atau kata sandi salah." in answer.text
    assert "jamsos_session=" not in answer.headers.get("set-cookie", "")
    assert events_count(demo_ledger) == before
    assert client.get("/overview").status_code == 303


def test_repeated_failures_lock_the_name_even_for_the_right_password(demo_ledger: Ledger,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    with_password(demo_ledger, "keuangan.lock", Role.FINANCE)
    client = web_client(demo_ledger)
    for _ in range(FAILURES_MAX):
        assert post_login(client, "keuangan.lock", "bukan-kata-sandinya").status_code == 401
    locked = post_login(client, "keuangan.lock", PASSWORD)
    assert locked.status_code == 429 and "Terlalu banyak percobaan gagal" in locked.text
    assert any("locked" in r.getMessage() and "keuangan.lock" in r.getMessage() for r in caplog.records)
    assert all(PASSWORD not in r.getMessage() and "bukan-kata-sandinya" not in r.getMessage() for r in caplog.records)
    clock = demo_ledger.clock
    assert isinstance(clock, SimulatedClock)
    clock.set(clock.now() + timedelta(seconds=LOCKOUT_WINDOW_S + 1))
    assert post_login(client, "keuangan.lock", PASSWORD).status_code == 303


def test_an_idle_session_ends_and_the_sign_in_page_says_so(demo_ledger: Ledger) -> None:
    with_password(demo_ledger, "auditor.idle", Role.AUDITOR)
    client = web_client(demo_ledger)
    post_login(client, "auditor.idle", PASSWORD)
    assert client.get("/overview").status_code == 200
    clock = demo_ledger.clock
    assert isinstance(clock, SimulatedClock)
    clock.set(clock.now() + timedelta(seconds=SESSION_IDLE_S + 1))
    expired = client.get("/overview")
    assert expired.status_code == 303 and "expired=1" in expired.headers["location"]
    login = client.get(expired.headers["location"])
    assert "Sesi Anda telah berakhir" in login.text


def test_a_revoked_principal_loses_its_session_at_the_next_click(demo_ledger: Ledger) -> None:
    from commands.messages import RevokePrincipal

    with_password(demo_ledger, "auditor.revoked", Role.AUDITOR)
    client = web_client(demo_ledger)
    post_login(client, "auditor.revoked", PASSWORD)
    execute(demo_ledger, RevokePrincipal(name="auditor.revoked", reason="left the inspectorate"), local_actor())
    assert client.get("/overview").status_code == 303


def test_the_sign_in_form_needs_its_own_csrf_token(demo_ledger: Ledger) -> None:
    with_password(demo_ledger, "keuangan.csrf", Role.FINANCE)
    client = web_client(demo_ledger)
    client.get("/login")
    forged = client.post("/login", data={"name": "keuangan.csrf", "password": PASSWORD, "csrf_token": "forged"})
    assert forged.status_code == 403 and "jamsos_session=" not in forged.headers.get("set-cookie", "")


def test_logout_needs_the_session_csrf_token_and_ends_the_session(demo_ledger: Ledger) -> None:
    add_user(demo_ledger, "auditor.out", Role.AUDITOR)
    client = web_client(demo_ledger)
    token = sign_in(client, "auditor.out")
    assert client.post("/logout", data={"csrf_token": "forged"}).status_code == 403
    assert client.get("/overview").status_code == 200
    assert client.post("/logout", data={"csrf_token": token}).status_code == 303
    assert client.get("/overview").status_code == 303


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\\evil.example"])
def test_sign_in_never_sends_the_browser_to_another_site(demo_ledger: Ledger, target: str) -> None:
    with_password(demo_ledger, "keuangan.next", Role.FINANCE)
    client = web_client(demo_ledger)
    answer = post_login(client, "keuangan.next", PASSWORD, next_path=target)
    assert answer.status_code == 303 and answer.headers["location"] == "/"


def test_pages_carry_a_strict_content_security_policy_and_no_inline_script(demo_ledger: Ledger) -> None:
    add_user(demo_ledger, "auditor.csp", Role.AUDITOR)
    client = web_client(demo_ledger)
    sign_in(client, "auditor.csp")
    page = client.get("/overview")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "'unsafe-inline'" not in policy and "frame-ancestors 'none'" in policy
    assert re.search(r"<script(?![^>]*\bsrc=)", page.text) is None  # every script is a file of this server
    assert page.headers["x-frame-options"] == "DENY" and page.headers["cache-control"] == "no-store"
    assert csrf_in(page.text)


def test_script_text_in_a_payer_name_is_shown_as_text(demo_ledger: Ledger) -> None:
    evil = "<script>alert('x')</script> Pemkab"
    execute(demo_ledger, SignAgreement(
        agreement_id="XSS-2026", name="<img src=x onerror=alert(1)>", payer_id="PEMKAB-XSS", payer_name=evil,
        payer_type="APBD_KAB", fund_source="APBD", legal_basis="uji", region_code="61.72", first_period="2026-01",
        last_period="2026-03", budget_rp=10_000_000, cohort_planned=10, effective_on=date(2025, 12, 1)),
        local_actor())
    add_user(demo_ledger, "auditor.xss", Role.AUDITOR)
    client = web_client(demo_ledger)
    sign_in(client, "auditor.xss")
    page = client.get("/overview")
    assert page.status_code == 200
    assert evil not in page.text and "<img src=x" not in page.text
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; Pemkab" in page.text

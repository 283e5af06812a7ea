"""Audit: verify the chain (and name the position of an edit), the seal letter, a subject's trail, and a report as
known at two instants — for auditors only, every one a read that writes nothing."""

from __future__ import annotations

import html
import logging
import re
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from api.routes.reports import report_document
from api.web import i18n
from api.web.core import actor_of
from commands.authorise import Actor
from commands.handlers import execute
from commands.messages import AmendBudget, EnrolMember
from eventstore.bootstrap import Ledger
from eventstore.clock import WIB, SimulatedClock
from ledger.values import Role
from projections.audit import subject_trail
from projections.chain_audit import seal, verify
from projections.runner import views_engine
from tests.conftest import events_count, nik
from tests.web_support import AFTER_DEMO, add_user, sign_in, web_client

POSITION = re.compile(r'<tr data-position="(\d+)"')
AGREEMENT = "BKY-DESA-2025"


def _auditor(ledger: Ledger, name: str = "auditor.web") -> tuple[TestClient, str]:
    add_user(ledger, name, Role.AUDITOR)
    client = web_client(ledger)
    return client, sign_in(client, name)


def _actor(ledger: Ledger, name: str) -> Actor:
    actor = actor_of(ledger, name)
    assert actor is not None
    return actor


def _refused(page: Response, status: int, field: str) -> None:
    assert page.status_code == status, page.text
    assert f"<code>{field}</code>" in page.text


def _result(text: str) -> str:
    """The verification's result element (its opening tag and content)."""
    return "<div " + text.split('<div id="verify-result"')[1].split("</div>")[0]


def test_the_page_has_its_four_forms_and_the_chain_of_the_demo_verifies(demo_ledger: Ledger) -> None:
    client, _ = _auditor(demo_ledger)
    page = client.get("/audit")
    assert page.status_code == 200, page.text
    for form in ('<form id="verify" method="get"', '<form id="seal" method="get"', '<form id="trail" method="post"',
                 '<form id="compare" method="get"'):
        assert form in page.text
    assert 'href="/audit" aria-current="page"' in page.text
    before = events_count(demo_ledger)
    checked = client.get("/audit/verify")
    expected = verify(demo_ledger.store)
    assert expected["ok"]
    assert checked.status_code == 200
    result = _result(checked.text)
    assert 'class="message success"' in result and 'data-ok="true"' in result and "data-position=" not in result
    assert f'data-head-position="{expected["head_position"]}"' in result
    assert i18n.number(expected["head_position"]) in result and expected["head_hash"] in result
    assert events_count(demo_ledger) == before


def _tamper(store: Path, position: int) -> None:
    """One byte more in one stored event's state, in the file, behind the ledger's back."""
    with sqlite3.connect(store) as conn:
        changed = conn.execute("UPDATE stored_events SET state = CAST(state || X'20' AS BLOB) WHERE rowid = ?",
                               (position,)).rowcount
    assert changed == 1


def test_an_edited_event_is_named_by_its_position_and_gets_no_seal(demo_ledger: Ledger, tmp_path: Path) -> None:
    client, _ = _auditor(demo_ledger)
    edited = demo_ledger.store.max_notification_id() // 2  # a demo event (a contribution), not a principal's
    assert edited > 999  # so that the page writes it with a dot
    _tamper(tmp_path / "store" / "jamsos.db", edited)
    page = client.get("/audit/verify")
    assert page.status_code == 200
    result = _result(page.text)
    assert 'class="message error"' in result and 'data-ok="false"' in result
    assert f'data-position="{edited}"' in result
    assert f"posisi {i18n.number(edited)}" in result and "GAGAL" in result
    assert f"position {edited}: the stored event no longer matches its leaf" in html.unescape(result)
    refused = client.get("/audit/seal")
    assert refused.status_code == 409 and 'class="letter"' not in refused.text
    assert f'data-position="{edited}"' in refused.text and i18n.number(edited) in refused.text


def test_the_seal_letter_names_the_day_the_head_and_who_sealed_it_and_records_nothing(demo_ledger: Ledger) -> None:
    client, _ = _auditor(demo_ledger, "auditor.segel")
    before = events_count(demo_ledger)
    letter = client.get("/audit/seal")
    assert letter.status_code == 200, letter.text
    head = seal(demo_ledger.store)
    body = letter.text.split('<article class="letter"')[1].split("</article>")[0]
    today = demo_ledger.clock.now().astimezone(WIB).date()
    assert i18n.long_date(today) in body and f'datetime="{today.isoformat()}"' in body
    assert i18n.long_date(today) == f"{today.day} {i18n.MONTHS['id'][today.month - 1]} {today.year}"
    assert f'data-position="{head["position"]}"' in body and f'data-hash="{head["hash"]}"' in body
    assert f'<dd data-field="position">{i18n.number(head["position"])}</dd>' in body
    assert 'data-field="sealed-by">auditor.segel (auditor)' in body
    assert "Arti segel ini" in body and "bukan peristiwa" in body
    assert events_count(demo_ledger) == before  # sealing is a read
    again = client.get("/audit/verify", params={"head": head["hash"]})
    assert 'data-ok="true"' in _result(again.text) and "Kepala yang disegel ada di rantai" in again.text
    malformed = client.get("/audit/verify", params={"head": "abc"})
    _refused(malformed, 422, "head")


def test_the_trail_of_a_claim_lists_its_events_in_order(demo_ledger: Ledger) -> None:
    client, csrf = _auditor(demo_ledger)
    refunds = report_document(demo_ledger, "reconciliation", None, None, AGREEMENT, None)["sections"]["refunds"]
    claim = refunds["rows"][0][refunds["columns"].index("claim")]
    rows = subject_trail(demo_ledger.store, views_engine(demo_ledger.store), demo_ledger.keyring.secrets.pepper,
                         claim_id=claim)["rows"]
    assert len(rows) >= 2
    for page in (client.get("/audit/trail", params={"claim": claim}),
                 client.post("/audit/trail", data={"csrf_token": csrf, "claim": claim})):
        assert page.status_code == 200, page.text
        assert f'<table id="trail" data-kind="claim" data-subject="{claim}">' in page.text
        assert [int(p) for p in POSITION.findall(page.text)] == [r["position"] for r in rows]
        first = page.text.split(f'<tr data-position="{rows[0]["position"]}">')[1].split("</tr>")[0]
        assert rows[0]["actor"] in first and rows[0]["command_id"] in first and rows[0]["event_type"] in first
        assert i18n.long_date(rows[0]["effective_on"]) in first and i18n.long_date(rows[0]["recorded_at"]) in first


def test_a_members_trail_is_asked_by_nik_in_the_body_only_and_the_nik_is_never_shown(
        demo_ledger: Ledger, caplog: pytest.LogCaptureFixture) -> None:
    client, csrf = _auditor(demo_ledger)
    add_user(demo_ledger, "operator.audit", Role.OPERATOR)
    person = nik(77_777)
    enrolled = execute(demo_ledger, EnrolMember(nik=person, name="Budi Audit", agreement_id=None,
                                                region_code="61.71", role="NELAYAN",
                                                declared_income_rp=2_000_000),
                       _actor(demo_ledger, "operator.audit"))
    assert enrolled is not None
    caplog.set_level(logging.INFO)
    page = client.post("/audit/trail", data={"csrf_token": csrf, "member": person})
    assert page.status_code == 200, page.text
    positions = POSITION.findall(page.text)
    assert positions and 'data-kind="member"' in page.text and "operator.audit" in page.text
    assert person not in page.text and "Budi Audit" not in page.text
    assert all(person not in r.getMessage() for r in caplog.records)
    in_url = client.get("/audit/trail", params={"member": person})
    _refused(in_url, 422, "member")
    assert person not in in_url.text
    bad = client.post("/audit/trail", data={"csrf_token": csrf, "member": "12345"})
    _refused(bad, 422, "member")


def test_the_trail_refuses_none_or_two_subjects_and_an_unknown_agreement(demo_ledger: Ledger) -> None:
    client, csrf = _auditor(demo_ledger)
    before = events_count(demo_ledger)
    _refused(client.post("/audit/trail", data={"csrf_token": csrf}), 422, "member")
    _refused(client.post("/audit/trail", data={"csrf_token": csrf, "claim": "X-1",
                                               "agreement": AGREEMENT}), 422, "agreement")
    _refused(client.get("/audit/trail", params={"agreement": "NOPE-2025"}), 404, "agreement")
    _refused(client.get("/audit/trail", params={"claim": "x" * 65}), 422, "claim")
    unknown = client.get("/audit/trail", params={"claim": "NO-SUCH-CLAIM"})
    assert unknown.status_code == 200 and 'id="trail-result"' in unknown.text and "<table id=\"trail\"" not in (
        unknown.text)
    assert events_count(demo_ledger) == before


def test_script_in_a_claim_id_is_text(demo_ledger: Ledger) -> None:
    client, _ = _auditor(demo_ledger)
    page = client.get("/audit/trail", params={"claim": "<script>alert(1)</script>"})
    assert page.status_code == 200
    assert "<script>alert(1)</script>" not in page.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text


def test_the_trail_form_needs_the_sessions_csrf_token(demo_ledger: Ledger) -> None:
    client, _ = _auditor(demo_ledger)
    for data in ({"claim": "X-1"}, {"claim": "X-1", "csrf_token": "forged"}):
        page = client.post("/audit/trail", data=data)
        assert page.status_code == 403 and "<code>csrf_token</code>" in page.text
        assert '<table id="trail"' not in page.text


def _amend_budget_between(ledger: Ledger) -> tuple[str, str, str]:
    """A budget amendment recorded at 11:00 (WIB) on the frozen day, by a budget owner; the clock then at 12:00.
    Returns (10:30, 11:30, 10:45) as the form writes them."""
    add_user(ledger, "anggaran.bky", Role.BUDGET_OWNER, scope="payer:PEMKAB-BKY")
    day = AFTER_DEMO.date()
    clock = ledger.clock
    assert isinstance(clock, SimulatedClock)
    clock.set(datetime(day.year, day.month, day.day, 11, tzinfo=WIB))
    budget = report_document(ledger, "reconciliation", None, None, AGREEMENT, None)["totals"]["budget_rp"]
    execute(ledger, AmendBudget(agreement_id=AGREEMENT, budget_rp=budget + 10_000, reason="APBD-P"),
            _actor(ledger, "anggaran.bky"))
    clock.set(datetime(day.year, day.month, day.day, 12, tzinfo=WIB))
    at = AFTER_DEMO.replace(hour=10, minute=30)
    return (at.strftime("%Y-%m-%dT%H:%M"), (at + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
            (at + timedelta(minutes=15)).strftime("%Y-%m-%dT%H:%M"))


def test_a_report_as_known_at_two_instants_marks_what_was_recorded_between(demo_ledger: Ledger) -> None:
    t1, t2, t_between = _amend_budget_between(demo_ledger)
    client, _ = _auditor(demo_ledger)  # signed in after the clock moved (a session ends when idle)
    before = events_count(demo_ledger)
    page = client.get("/audit/compare", params={"known_1": t1, "known_2": t2, "report": "reconciliation",
                                                "agreement": AGREEMENT})
    assert page.status_code == 200, page.text
    known = [report_document(demo_ledger, "reconciliation", None, t, AGREEMENT, None)["totals"]["budget_rp"]
             for t in (t1, t2)]
    assert known[0] != known[1]
    row = page.text.split('<tr data-section="totals" data-column="budget_rp" data-diff="true">')[1].split("</tr>")[0]
    assert row.count('class="num diff"') == 2 and "≠ berbeda" in row
    assert [html.unescape(v) for v in re.findall(r'class="num diff">([^<]*)<', row)] == [
        i18n.rupiah(known[0]), i18n.rupiah(known[1])]
    same = page.text.split('<tr data-section="totals" data-column="expected_rp"')[1].split("</tr>")[0]
    assert "diff" not in same and "sama" in same
    only = client.get("/audit/compare", params={"known_1": t1, "known_2": t2, "report": "reconciliation",
                                                "agreement": AGREEMENT, "only_diff": "1"})
    assert 'data-column="expected_rp"' not in only.text and 'data-column="budget_rp" data-diff="true"' in only.text
    nothing = client.get("/audit/compare", params={"known_1": t1, "known_2": t_between,
                                                   "report": "reconciliation", "agreement": AGREEMENT})
    assert nothing.status_code == 200 and 'data-differ="0"' in nothing.text and "data-diff=" not in nothing.text
    assert events_count(demo_ledger) == before


@pytest.mark.parametrize(("params", "status", "field"), [
    ({"known_1": "2026-11-30T12:00", "known_2": "2026-11-29T12:00"}, 422, "known_2"),
    ({"known_1": "2026-11-30T12:00", "known_2": "2026-11-30T12:00", "on": "2027-01-01"}, 422, "on"),
    ({"known_1": "2026-11-30T12:00", "known_2": "2026-11-30T12:00", "on": "1 Januari"}, 422, "on"),
    ({"known_1": "kemarin", "known_2": "2026-11-30T12:00"}, 422, "known_1"),
    ({"known_1": "2026-11-30T12:00", "known_2": "2026-13-30T12:00"}, 422, "known_2"),
    ({"known_1": "2026-11-30T12:00"}, 422, "known_2"),
    ({"known_1": "2026-11-30T12:00", "known_2": "2027-01-01T00:00"}, 422, "known_2"),
    ({"known_1": "2026-11-30T12:00", "known_2": "2026-11-30T12:00", "report": "access"}, 422, "report"),
    ({"known_1": "2026-11-30T12:00", "known_2": "2026-11-30T12:00", "report": "reconciliation"}, 422, "agreement"),
    ({"known_1": "2026-11-30T12:00", "known_2": "2026-11-30T12:00", "agreement": "NOPE-2025"}, 404, "agreement"),
])
def test_bad_comparison_input_is_refused_naming_the_field(demo_ledger: Ledger, params: dict[str, str], status: int,
                                                          field: str) -> None:
    client, _ = _auditor(demo_ledger)
    before = events_count(demo_ledger)
    page = client.get("/audit/compare", params=params)
    _refused(page, status, field)
    assert '<table id="compare"' not in page.text
    assert events_count(demo_ledger) == before


@pytest.mark.parametrize("who", ["operator", "finance", "scoped-auditor"])
def test_only_auditors_of_the_whole_ledger_open_the_audit_page(demo_ledger: Ledger, who: str) -> None:
    if who == "scoped-auditor":
        add_user(demo_ledger, who, Role.AUDITOR, scope="payer:PEMKAB-BKY")
    else:
        add_user(demo_ledger, who, Role.OPERATOR if who == "operator" else Role.FINANCE)
    client = web_client(demo_ledger)
    csrf = sign_in(client, who)
    for page in (client.get("/audit"), client.get("/audit/verify"), client.get("/audit/seal"),
                 client.get("/audit/trail", params={"agreement": AGREEMENT}),
                 client.post("/audit/trail", data={"csrf_token": csrf, "agreement": AGREEMENT}),
                 client.get("/audit/compare", params={"known_1": "2026-11-30T12:00", "known_2": "2026-11-30T12:00"})):
        assert page.status_code == 403, page.text
        assert 'id="verify-result"' not in page.text and '<table id="trail"' not in page.text
        assert 'class="letter"' not in page.text and '<table id="compare"' not in page.text
        assert who in page.text and "may not" in page.text
    if who != "scoped-auditor":
        assert 'href="/audit"' not in client.get("/overview").text  # not in its menu


def test_an_admin_opens_it_and_it_speaks_english_by_the_switch(demo_ledger: Ledger) -> None:
    add_user(demo_ledger, "admin.web", Role.ADMIN)
    client = web_client(demo_ledger)
    sign_in(client, "admin.web")
    client.cookies.set(i18n.LANGUAGE_COOKIE, "en")
    page = client.get("/audit")
    assert page.status_code == 200 and "Verify the hash chain" in page.text and '<html lang="en">' in page.text
    letter = client.get("/audit/seal")
    assert "What this seal means" in letter.text and i18n.long_date(AFTER_DEMO.date(), "en") in letter.text

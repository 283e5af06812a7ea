"""Audit in a real browser: an auditor verifies the chain (green, the head named), seals the head as a letter that
prints without the menu and the forms, reads a trail (a NIK never in the address or the server's log), compares a
report as known at two instants (the differing cells marked, not by colour alone); an edited stored event turns the
verification red, naming its position. axe-core finds no serious or critical violation on any of these pages."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import psycopg
import pytest

from api.web import i18n
from tests.browser_support import (
    AUDITOR,
    FINANCE_BKY,
    Shots,
    Site,
    assert_accessible,
    signed_in,
)
from tests.conftest import nik

pytestmark = pytest.mark.browser

GREEN = "rgb(30, 91, 30)"  # --good in app.css
RED = "rgb(139, 0, 0)"  # --bad


def _submit(page: object, form: str) -> None:
    page.click(f"form#{form} button[type=submit]")  # type: ignore[attr-defined]
    page.wait_for_load_state("networkidle")  # type: ignore[attr-defined]


def test_an_auditor_verifies_the_chain_and_prints_the_seal_letter(site: Site, browser: object, shots: Shots) -> None:
    page = signed_in(browser, site, AUDITOR)
    page.goto(site.url("/audit"))  # type: ignore[attr-defined]
    assert_accessible(page)
    shots.take(page, "audit")
    _submit(page, "verify")
    result = page.locator("#verify-result")  # type: ignore[attr-defined]
    assert result.get_attribute("data-ok") == "true"
    head_position = int(result.get_attribute("data-head-position"))
    assert i18n.number(head_position) in result.inner_text()
    assert result.get_attribute("data-head-hash") in result.inner_text()
    assert result.evaluate("e => getComputedStyle(e).color") == GREEN
    assert_accessible(page)
    shots.take(page, "verified")
    _submit(page, "seal")
    letter = page.locator(".letter")  # type: ignore[attr-defined]
    text = letter.inner_text()
    assert letter.get_attribute("data-hash") in text and AUDITOR.name in text
    assert i18n.number(int(letter.get_attribute("data-position"))) in text
    assert int(letter.get_attribute("data-position")) >= head_position
    assert "Desember 2026" in text  # the frozen clock's month, as a long Indonesian date
    assert_accessible(page)
    shots.take(page, "seal-letter")
    page.emulate_media(media="print")  # type: ignore[attr-defined]
    assert letter.is_visible()
    for hidden in ("nav.menu", "header.top", ".letter-tools"):
        assert not page.locator(hidden).is_visible(), hidden  # type: ignore[attr-defined]
    shots.take(page, "seal-letter-print")


def test_a_trail_by_agreement_and_a_nik_that_stays_out_of_the_address(site: Site, browser: object,
                                                                      shots: Shots) -> None:
    page = signed_in(browser, site, AUDITOR)
    page.goto(site.url("/audit"))  # type: ignore[attr-defined]
    page.select_option("#trail-agreement", "BKY-DESA-2025")  # type: ignore[attr-defined]
    _submit(page, "trail")
    positions = page.locator("table#trail tr[data-position]").evaluate_all(  # type: ignore[attr-defined]
        "rows => rows.map(r => Number(r.dataset.position))")
    assert positions and positions == sorted(positions) and len(set(positions)) == len(positions)
    assert page.url.split("#")[0] == site.url("/audit/trail")  # type: ignore[attr-defined]
    assert_accessible(page)
    shots.take(page, "trail", full_page=False)
    person = nik(77_777)
    page.goto(site.url("/audit"))  # type: ignore[attr-defined]
    page.fill("#trail-member", person)  # type: ignore[attr-defined]
    _submit(page, "trail")
    assert page.url.split("#")[0] == site.url("/audit/trail")  # type: ignore[attr-defined]
    assert person not in page.content()  # type: ignore[attr-defined]
    assert page.locator("#trail-result").is_visible()  # type: ignore[attr-defined]
    if site.kind == "sqlite":
        assert person not in (Path(site.store).parent / "serve.log").read_text()


def test_a_report_as_known_at_two_instants_marks_the_cells_that_differ(site: Site, browser: object,
                                                                     shots: Shots) -> None:
    page = signed_in(browser, site, AUDITOR)
    page.goto(site.url("/audit"))  # type: ignore[attr-defined]
    page.fill("#compare-known-1", "2026-06-01T00:00:00")  # type: ignore[attr-defined]
    page.fill("#compare-known-2", "2026-11-30T00:00:00")  # type: ignore[attr-defined]
    page.select_option("#compare-report", "balances")  # type: ignore[attr-defined]
    page.check("#compare-only-diff")  # type: ignore[attr-defined]
    _submit(page, "compare")
    table = page.locator("table#compare")  # type: ignore[attr-defined]
    differ = int(table.get_attribute("data-differ"))
    assert differ > 0  # the demo pays contributions between June and November
    assert page.locator("table#compare td.diff").count() == 2 * differ  # type: ignore[attr-defined]
    first = page.locator("table#compare td.diff").first  # type: ignore[attr-defined]
    assert first.evaluate("e => getComputedStyle(e).fontWeight") in ("700", "bold")
    assert page.locator("table#compare td.diff-label").first.inner_text() == "≠ berbeda"  # type: ignore
    assert_accessible(page)
    shots.take(page, "compare", full_page=False)
    page.goto(site.url("/audit"))  # type: ignore[attr-defined]
    page.fill("#compare-known-1", "2026-11-30T00:00:00")  # type: ignore[attr-defined]
    page.fill("#compare-known-2", "2026-06-01T00:00:00")  # type: ignore[attr-defined]
    _submit(page, "compare")
    assert "known_2" in page.locator("main").inner_text()  # type: ignore[attr-defined]
    assert page.locator("table#compare").count() == 0  # type: ignore[attr-defined]


def test_the_page_is_refused_to_a_finance_officer(site: Site, browser: object) -> None:
    page = signed_in(browser, site, FINANCE_BKY)
    response = page.goto(site.url("/audit"))  # type: ignore[attr-defined]
    assert response.status == 403
    assert page.locator("form#verify").count() == 0  # type: ignore[attr-defined]
    assert page.locator('nav a[href="/audit"]').count() == 0  # type: ignore[attr-defined]


def _tamper(site: Site, position: int) -> None:
    if site.kind == "sqlite":
        with sqlite3.connect(site.store) as conn:
            assert conn.execute("UPDATE stored_events SET state = CAST(state || X'20' AS BLOB) WHERE rowid = ?",
                                (position,)).rowcount == 1
        return
    with psycopg.connect(site.store, autocommit=True) as conn:  # the site's own database (public schema)
        assert conn.execute("UPDATE jamsos_events SET state = state || '\\x20'::bytea WHERE notification_id = %s",
                            (position,)).rowcount == 1


def test_an_edited_stored_event_turns_the_verification_red_naming_it(fresh_site: Site, browser: object,
                                                                     shots: Shots) -> None:
    page = signed_in(browser, fresh_site, AUDITOR)
    page.goto(fresh_site.url("/audit"))  # type: ignore[attr-defined]
    edited = int(page.locator("#chain-head").get_attribute("data-position")) // 2  # type: ignore[attr-defined]
    _tamper(fresh_site, edited)
    _submit(page, "verify")
    result = page.locator("#verify-result")  # type: ignore[attr-defined]
    assert result.get_attribute("data-ok") == "false" and result.get_attribute("data-position") == str(edited)
    assert f"posisi {i18n.number(edited)}" in result.inner_text()
    assert result.evaluate("e => getComputedStyle(e).color") == RED
    assert_accessible(page)
    shots.take(page, "tampered")

"""The dashboard in Debian's chromium against a real ``jamsos serve``: signing in, the overview of a payer's finance
officer, every page of the menu drawn and accessible."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Dialog

from tests.browser_support import (
    AUDITOR,
    FINANCE_BKY,
    PASSWORD,
    USERS,
    Shots,
    Site,
    User,
    assert_accessible,
    assert_charts_drawn,
    new_page,
    signed_in,
)

pytestmark = pytest.mark.browser


def test_finance_of_bengkayang_sees_its_agreement_over_budget_and_no_other_payer(
        site: Site, browser: Browser, shots: Shots) -> None:
    page = signed_in(browser, site, FINANCE_BKY)
    page.goto(site.url("/overview"))
    rows = page.locator("#overview-table tbody tr").evaluate_all("rows => rows.map(r => r.dataset.agreement)")
    assert rows == ["BKY-DESA-2025", "BKY-SAWIT-2025"]
    status = page.locator('tr[data-agreement="BKY-DESA-2025"] [data-status]')
    assert status.get_attribute("data-status") == "OVER_BUDGET" and "OVER_BUDGET" in status.inner_text()
    assert "Pemkot" not in page.inner_text("main")
    assert_charts_drawn(page)
    assert_accessible(page)
    shots.take(page, "overview")
    page.click("text=English")
    assert page.locator("h1").inner_text() == "Overview"
    shots.take(page, "overview-en")


def test_a_wrong_password_is_told_on_the_page_and_opens_nothing(site: Site, browser: Browser, shots: Shots) -> None:
    page = new_page(browser)
    page.goto(site.url("/overview"))
    assert "/login" in page.url
    page.fill("#login-name", AUDITOR.name)
    page.fill("#login-password", PASSWORD + "-salah")
    page.click("form.login button[type=submit]")
    assert "Nama pengguna atau kata sandi salah." in page.inner_text("[role=alert]")
    assert_accessible(page)
    shots.take(page, "login-refused")
    page.goto(site.url("/overview"))
    assert "/login" in page.url


@pytest.mark.parametrize("user", USERS, ids=lambda u: u.name)
def test_every_page_of_the_menu_draws_its_charts_and_passes_axe(site: Site, browser: Browser, shots: Shots,
                                                                 user: User) -> None:
    page = signed_in(browser, site, user)
    dialogs: list[str] = []
    def refuse(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", refuse)
    page.goto(site.url("/overview"))
    links = page.locator("nav.menu a").evaluate_all("links => links.map(a => a.getAttribute('href'))")
    assert links, "the menu offers no page"
    for href in links:
        page.goto(site.url(href))
        assert page.locator("h1").count() == 1, href
        if page.locator("canvas[data-chart]").count():
            assert_charts_drawn(page)
        assert_accessible(page)
        shots.take(page, re.sub(r"[^a-z0-9]+", "-", href.split("?")[0]).strip("-") or "home")
    assert not dialogs, f"a script ran: {dialogs}"

"""Perjanjian / Agreements in a real browser: Singkawang's planner follows the list to its vulnerable workers'
agreement, sees the drop in May 2026 drawn and tabled, and the payment calendar; the page passes axe-core."""

from __future__ import annotations

import pytest

from tests.browser_support import (
    AUDITOR,
    OPERATOR,
    PLANNER_SKW,
    Shots,
    Site,
    assert_accessible,
    assert_charts_drawn,
    signed_in,
)

pytestmark = pytest.mark.browser


def test_singkawangs_planner_sees_the_vulnerable_cohort_end(site: Site, browser: object, shots: Shots) -> None:
    page = signed_in(browser, site, PLANNER_SKW)
    page.goto(site.url("/agreements"))  # type: ignore[attr-defined]
    listed = page.eval_on_selector_all(  # type: ignore[attr-defined]
        "#agreements-list tbody tr", "rows => rows.map(r => r.dataset.agreement)")
    assert listed == ["SKW-RENTAN-2025", "SKW-SAWIT-2025"]
    assert_accessible(page)
    page.click("#agreements-list a[href^='/agreements/SKW-RENTAN-2025']")  # type: ignore[attr-defined]
    page.wait_for_selector("#active-by-month")  # type: ignore[attr-defined]
    active = {p: int(n) for p, n in page.eval_on_selector_all(  # type: ignore[attr-defined]
        "#active-by-month tr[data-period]", "rows => rows.map(r => [r.dataset.period, "
        "r.querySelector('td[data-active]').dataset.active])")}
    assert active["2026-04"] > 0 and active["2026-05"] == 0
    states = page.eval_on_selector_all(  # type: ignore[attr-defined]
        "#payment-calendar tr[data-period]", "rows => rows.map(r => r.dataset.state)")
    assert states and set(states) <= {"paid", "partial", "outstanding"}
    assert assert_charts_drawn(page, at_least=3) >= 3
    assert_accessible(page)
    shots.take(page, "agreement-skw-rentan")


def test_an_operator_sees_the_members_without_the_calendar_and_the_auditor_in_english(
        site: Site, browser: object, shots: Shots) -> None:
    page = signed_in(browser, site, OPERATOR)
    page.goto(site.url("/agreements/BKY-DESA-2025?on=2025-09-30"))  # type: ignore[attr-defined]
    assert page.locator("#active-by-month").count() == 1  # type: ignore[attr-defined]
    assert page.locator("#payment-calendar").count() == 0  # type: ignore[attr-defined]
    assert_charts_drawn(page, at_least=3)
    assert_accessible(page)
    auditor = signed_in(browser, site, AUDITOR)
    auditor.goto(site.url("/lang/en?next=/agreements/BKY-DESA-2025"))  # type: ignore[attr-defined]
    assert "Payment calendar" in auditor.inner_text("main")  # type: ignore[attr-defined]
    assert_accessible(auditor)
    shots.take(auditor, "agreement-bky-desa-en")

"""Cakupan / Coverage in a real browser: Singkawang's planner moves the target slider, sets the months and works
out the plan; the chart is drawn, the output follows the slider, the page passes axe-core, and a region outside
the planner's scope is a 403 page."""

from __future__ import annotations

import pytest

from tests.browser_support import (
    PLANNER,
    PLANNER_SKW,
    Shots,
    Site,
    assert_accessible,
    assert_charts_drawn,
    signed_in,
)

pytestmark = pytest.mark.browser


def test_singkawangs_planner_plans_for_47_5_percent_over_10_months(site: Site, browser: object,
                                                                   shots: Shots) -> None:
    page = signed_in(browser, site, PLANNER_SKW)
    page.goto(site.url("/coverage"))  # type: ignore[attr-defined]
    assert page.locator("table#coverage tr[data-region]").count() == 1  # type: ignore[attr-defined]
    row = page.locator('table#coverage tr[data-region="61.72"]')  # type: ignore[attr-defined]
    workforce = int(row.get_attribute("data-workforce"))
    active = int(row.get_attribute("data-active-persons"))
    assert_charts_drawn(page)
    assert_accessible(page)
    rows = page.locator("table#plan-targets tr[data-target]")  # type: ignore[attr-defined]
    assert [rows.nth(i).get_attribute("data-target") for i in range(rows.count())] == ["40", "50"]  # [seed]
    covered = max(active, 27 * workforce // 100)  # [seed] about 27 % covered across BPJS
    months = int(rows.nth(0).get_attribute("data-months"))
    for i, target_pct in enumerate((40, 50)):  # persons and budget needed for 40 % and for 50 %
        needed = max(0, -(-target_pct * workforce // 100) - covered)
        assert int(rows.nth(i).get_attribute("data-persons-needed")) == needed
        assert int(rows.nth(i).get_attribute("data-budget-needed-rp")) == needed * 16_800 * months  # [seed] Rp16.800
    page.locator("#target").evaluate(  # type: ignore[attr-defined]
        "e => { e.value = '47.5'; e.dispatchEvent(new Event('input', {bubbles: true})); }")
    output = page.locator("#target").get_attribute("data-output")  # type: ignore[attr-defined]
    assert page.locator(f"output#{output}").inner_text() == "47,5 %"  # the page's decimal comma  # type: ignore[attr-defined]
    page.fill("#months", "10")  # type: ignore[attr-defined]
    page.click("#plan-form button[type=submit]")  # type: ignore[attr-defined]
    page.wait_for_load_state("networkidle")  # type: ignore[attr-defined]
    assert "target=47.5" in page.url and "months=10" in page.url  # type: ignore[attr-defined]
    plan = page.locator("#plan")  # type: ignore[attr-defined]
    persons = max(0, -(-475 * workforce // 1000) - max(active, 27 * workforce // 100))  # [seed] about 27 %
    assert (plan.get_attribute("data-target"), plan.get_attribute("data-months")) == ("47.5", "10")
    assert int(plan.get_attribute("data-persons-needed")) == persons
    assert int(plan.get_attribute("data-budget-needed-rp")) == persons * 16_800 * 10  # [seed] Rp16.800
    assert "Untuk 47,5 %" in plan.inner_text() and "untuk 10 bulan" in plan.inner_text()
    assert_accessible(page)
    shots.take(page, "coverage-plan")
    refused = page.goto(site.url("/coverage?region=61.71"))  # type: ignore[attr-defined]
    assert refused.status == 403 and page.locator("table#coverage").count() == 0  # type: ignore[attr-defined]


def test_the_national_planner_sees_every_region_and_a_bad_target_names_the_field(site: Site, browser: object,
                                                                                 shots: Shots) -> None:
    page = signed_in(browser, site, PLANNER)
    page.goto(site.url("/coverage?region=61.71"))  # type: ignore[attr-defined]
    assert page.locator("table#coverage tr[data-region]").count() >= 2  # type: ignore[attr-defined]
    assert page.locator("#plan").get_attribute("data-target") == "45"  # type: ignore[attr-defined]  # [seed]
    assert_charts_drawn(page)
    assert_accessible(page)
    shots.take(page, "coverage-all")
    refused = page.goto(site.url("/coverage?target=abc"))  # type: ignore[attr-defined]
    assert refused.status == 422 and "target" in page.locator("main code").inner_text()  # type: ignore[attr-defined]
    assert_accessible(page)

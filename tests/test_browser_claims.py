"""Klaim / Claims in a real browser: the claims officer filters the register with the form, the national planner
reads claims paid against contributions, Bengkayang's finance sees only its own agreements; axe-core passes."""

from __future__ import annotations

import re

import pytest

from tests.browser_support import (
    CLAIMS,
    FINANCE_BKY,
    PLANNER,
    Shots,
    Site,
    assert_accessible,
    assert_charts_drawn,
    signed_in,
)

pytestmark = pytest.mark.browser
ROWS = "rows => rows.map(r => [r.dataset.claim, r.dataset.status])"


def test_the_claims_officer_filters_the_register(site: Site, browser: object, shots: Shots) -> None:
    page = signed_in(browser, site, CLAIMS)
    page.goto(site.url("/claims"))  # type: ignore[attr-defined]
    every = page.eval_on_selector_all("#claims-register tr[data-claim]", ROWS)  # type: ignore[attr-defined]
    assert every
    assert page.locator("#claims-vs-contributions").count() == 0  # type: ignore[attr-defined]
    assert_charts_drawn(page, at_least=2)
    assert_accessible(page)
    page.select_option("#filter-claim-type", "JKM_DEATH")  # type: ignore[attr-defined]
    page.click("#claim-filters button[type=submit]")  # type: ignore[attr-defined]
    page.wait_for_url(re.compile(r"claim_type=JKM_DEATH"))  # type: ignore[attr-defined]
    kept = page.eval_on_selector_all("#claims-register tr[data-claim]", ROWS)  # type: ignore[attr-defined]
    types = page.eval_on_selector_all(  # type: ignore[attr-defined]
        "#claims-register tr[data-claim] td:nth-of-type(2)", "cells => cells.map(c => c.textContent)")
    assert kept and len(kept) < len(every) and all("JKM" in t for t in types)
    shots.take(page, "claims-jkm-death")


def test_the_national_planner_reads_claims_against_contributions(site: Site, browser: object, shots: Shots) -> None:
    page = signed_in(browser, site, PLANNER)
    page.goto(site.url("/claims"))  # type: ignore[attr-defined]
    ratio = page.inner_text("#claims-vs-contributions tr[data-agreement='PNK-SOSIAL-2025'] td[data-ratio]")  # type: ignore[attr-defined]
    assert re.fullmatch(r"\d+,\d×", ratio.strip())
    assert assert_charts_drawn(page, at_least=3) >= 3
    assert_accessible(page)
    shots.take(page, "claims-national")


def test_bengkayangs_finance_sees_only_its_agreements(site: Site, browser: object) -> None:
    page = signed_in(browser, site, FINANCE_BKY)
    page.goto(site.url("/claims"))  # type: ignore[attr-defined]
    options = page.eval_on_selector_all(  # type: ignore[attr-defined]
        "#filter-agreement option", "options => options.map(o => o.value)")
    assert options == ["BKY-DESA-2025", "BKY-SAWIT-2025"]
    shown = page.eval_on_selector_all(  # type: ignore[attr-defined]
        "#claims-vs-contributions tr[data-agreement]", "rows => rows.map(r => r.dataset.agreement)")
    assert shown == ["BKY-DESA-2025"]
    assert_accessible(page)

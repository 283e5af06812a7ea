"""Rekonsiliasi in a real browser: finance of Bengkayang uploads its statement (with the progress bar of
static/app.js), is refused a corrupted workbook naming the field, runs the matching, resolves the exception it
raised and downloads the exception list; an auditor sees the page without its forms. Each page drawn, accessible
and photographed."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from eventstore.bootstrap import bootstrap
from eventstore.clock import SimulatedClock
from tests.browser_support import (
    AUDITOR,
    FINANCE_BKY,
    Shots,
    Site,
    assert_accessible,
    assert_charts_drawn,
    key_file_env,
    signed_in,
)
from tests.web_statements import bengkayang_statement, corrupt_xlsx
from tests.web_support import AFTER_DEMO

pytestmark = pytest.mark.browser


def statement_of(site: Site) -> tuple[str, bytes]:
    """Bengkayang's statement, built from the served store (billing the invoice it pays when there is none)."""
    with key_file_env(Path(site.env["JAMSOS_KEY_FILE"])):
        ledger = bootstrap(site.store, clock=SimulatedClock(AFTER_DEMO), create=False)
    try:
        return bengkayang_statement(ledger)
    finally:
        ledger.close()


def count(page: Any) -> int:
    return int(page.get_attribute("#open-exceptions-count", "data-count"))


def upload(page: Any, name: str, content: bytes, mime: str) -> None:
    page.set_input_files("#statement-file", {"name": name, "mimeType": mime, "buffer": content})
    page.click("#statement-upload button[type=submit]")


def test_finance_uploads_matches_resolves_and_downloads(fresh_site: Site, browser: object, shots: Shots) -> None:
    name, content = statement_of(fresh_site)
    page: Any = signed_in(browser, fresh_site, FINANCE_BKY)
    page.goto(fresh_site.url("/reconciliation?agreement=BKY-DESA-2025"))
    assert_charts_drawn(page)
    assert_accessible(page)
    assert page.is_hidden("#statement-upload progress")
    before = count(page)
    shots.take(page, "reconciliation")

    upload(page, "rusak.xlsx", corrupt_xlsx(), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    page.wait_for_selector("#form-refusal")
    assert page.get_attribute("#form-refusal", "data-field") == "statement"
    assert "not a readable XLSX" in page.inner_text("#form-refusal")
    assert_accessible(page)
    shots.take(page, "refused-upload")

    upload(page, name, content, "text/csv")
    page.wait_for_selector("#upload-result")
    assert page.get_attribute("#upload-result", "data-new-lines") == "2"
    assert "uploaded=" in page.url  # the redirect's address, after the XHR upload

    page.click("#run-matching button[type=submit]")
    page.wait_for_selector("#run-result")
    assert int(page.get_attribute("#run-result", "data-matched")) >= 1
    raised = int(page.get_attribute("#run-result", "data-raised"))
    assert raised >= 1 and count(page) == before + raised
    assert_charts_drawn(page)
    assert_accessible(page)
    shots.take(page, "matched")

    row = page.locator("table#exceptions tr[data-exception]").last
    key = row.get_attribute("data-exception")
    row.locator("select[name=action]").select_option("WRITE_OFF")
    row.locator("input[name=note]").fill("Bukan iuran: dikembalikan ke pengirim")
    row.locator("form.resolve button[type=submit]").click()
    page.wait_for_selector("#resolve-result")
    assert count(page) == before + raised - 1
    assert page.locator(f'tr[data-exception="{key}"]').count() == 0

    with page.expect_download() as download:
        page.click("a#exceptions-xlsx")
    path = download.value.path()
    sheet = load_workbook(io.BytesIO(Path(path).read_bytes()), read_only=True)["open_exceptions"]
    listed = sum(1 for r in sheet.iter_rows(values_only=True) if r and isinstance(r[1], int))
    assert listed == count(page)
    shots.take(page, "resolved")


def test_an_auditor_sees_the_reconciliation_without_its_forms(fresh_site: Site, browser: object,
                                                              shots: Shots) -> None:
    page: Any = signed_in(browser, fresh_site, AUDITOR)
    page.goto(fresh_site.url("/reconciliation?agreement=SKW-RENTAN-2025"))
    assert_charts_drawn(page)
    assert_accessible(page)
    assert page.locator("table#exceptions tr[data-exception]").count() == count(page) >= 1
    for form in ("form#statement-upload", "form#run-matching", "form.resolve"):
        assert page.locator(form).count() == 0
    shots.take(page, "auditor")

"""The README's screenshots of the dashboard, from the full demo store (``make demo``) in Debian's chromium::

    make screenshots        # = python -m tests.readme_screenshots --demo demo --out docs/screenshots

Serves a copy of the demo store with ``jamsos serve`` (the tests' users and password added to the copy, the
clock frozen the morning after the demo), signs in as each kind of user and saves one viewport-sized PNG per
page: the overview and reconciliation of Bengkayang's finance officer, the audit page of a BPK auditor and the UCJ
plan of Singkawang's planner. Not a test: it only makes pictures (the browser tests check the pages).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

from tests.browser_support import AUDITOR, CHROMIUM, FINANCE_BKY, PLANNER_SKW, Site, User, signed_in, start_site

VIEWPORT = {"width": 1280, "height": 860}
PAGES: tuple[tuple[User, str, str], ...] = (
    (FINANCE_BKY, "/overview", "overview"),
    (FINANCE_BKY, "/reconciliation?agreement=BKY-DESA-2025", "reconciliation"),
    (AUDITOR, "/audit", "audit"),
    (PLANNER_SKW, "/coverage?region=61.72&target=45&months=12", "coverage"),
)


def shoot(site: Site, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    saved = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        for user, path, name in PAGES:
            page: Page = signed_in(browser, site, user)
            page.set_viewport_size(VIEWPORT)
            page.goto(site.url(path))
            page.wait_for_load_state("networkidle")
            if name == "audit" and page.locator("form#verify button").count():
                page.click("form#verify button")
                page.wait_for_load_state("networkidle")
            page.evaluate("window.scrollTo(0, 0)")
            target = out / f"{name}.png"
            page.screenshot(path=str(target))
            saved.append(target)
            page.context.close()
        browser.close()
    return saved


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--demo", type=Path, default=Path("demo"), help="the folder of `make demo` (jamsos.db)")
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="jamsos-shots-") as folder:
        site = start_site("sqlite", Path(folder) / "site", args.demo)
        try:
            for path in shoot(site, args.out):
                print(f"{path}  {path.stat().st_size // 1024} KiB")
        finally:
            site.stop()


if __name__ == "__main__":
    main()

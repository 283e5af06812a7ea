"""Every XLSX report opened and rendered by LibreOffice (headless, to PDF): no cell shows ``###`` (issue 10, section 5:
"LibreOffice renders every XLSX report of the demo with no ``###``").

The reports of a small demo, and the full-size figures of ``tests/test_export.py``, are converted in one
LibreOffice run (its start-up costs seconds) with a private profile; ``pdftotext`` reads the pages back.
A workbook with one column made too narrow proves the check can fail. Under CI (``CI`` or
``JAMSOS_REQUIRE_SERVICES=1``) a missing ``libreoffice`` or ``pdftotext`` fails the test, elsewhere it skips.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook

from cli.seed_demo import DEMO_END, SCHEMES, run_demo
from eventstore.bootstrap import bootstrap
from eventstore.clock import WIB
from projections.export import write_xlsx
from projections.reports import build_report
from tests.conftest import SERVICES_REQUIRED
from tests.test_export import full_size_reports

pytestmark = pytest.mark.slow
TOOLS = ("libreoffice", "pdftotext")
NARROW = "control-too-narrow"


def require_tools() -> None:
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if not missing:
        return
    message = f"not installed: {', '.join(missing)} (Debian: libreoffice-calc, poppler-utils; .ci/run installs them)"
    if SERVICES_REQUIRED:
        pytest.fail(message + " (required here: CI or JAMSOS_REQUIRE_SERVICES=1)")
    pytest.skip(message)


def demo_workbooks(root: Path) -> list[Path]:
    """Every report of a small demo as a workbook: each report, reconciliation per scheme, and the balances of
    one agreement (its per-member sheet)."""
    store = root / "demo" / "jamsos.db"
    store.parent.mkdir()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("JAMSOS_KEY_FILE", str(root / "demo" / "jamsos.key"))
        run_demo(str(store), scale=0.02, quiet=True)
        ledger = bootstrap(f"sqlite:///{store}")
        try:
            now = datetime(DEMO_END.year, DEMO_END.month, DEMO_END.day, 18, tzinfo=WIB) + timedelta(days=1)
            reports = {name: build_report(ledger.store, name, DEMO_END, None, now)
                       for name in ("members", "balances", "claims", "coverage", "audit", "trial-balance")}
            for scheme in SCHEMES:
                reports[f"reconciliation-{scheme.code}"] = build_report(
                    ledger.store, "reconciliation", DEMO_END, None, now, scheme.code)
            code = SCHEMES[0].code
            reports[f"balances-{code}"] = build_report(ledger.store, "balances", DEMO_END, None, now, code)
        finally:
            ledger.close()
    paths = []
    for name, one in reports.items():
        paths.append(root / f"demo-{name}.xlsx")
        write_xlsx(one, paths[-1])
    return paths


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Workbook name → the text of its PDF pages, as LibreOffice rendered them."""
    require_tools()
    root = tmp_path_factory.mktemp("libreoffice")
    paths = demo_workbooks(root)
    for name, one in full_size_reports().items():
        paths.append(root / f"full-{name}.xlsx")
        write_xlsx(one, paths[-1])
    control = root / f"{NARROW}.xlsx"
    write_xlsx(full_size_reports()["trial-balance"], control)
    wb = load_workbook(control)
    wb["accounts"].column_dimensions["D"].width = 12  # the old fixed width
    wb.save(control)
    paths.append(control)
    out = root / "pdf"
    profile = (root / "profile").as_uri()
    run = subprocess.run(["libreoffice", f"-env:UserInstallation={profile}", "--headless", "--convert-to", "pdf",
                          "--outdir", str(out), *map(str, paths)],
                         capture_output=True, text=True, timeout=600, env={**os.environ, "HOME": str(root)})
    texts = {}
    for path in paths:
        pdf = out / f"{path.stem}.pdf"
        assert pdf.exists(), f"LibreOffice did not render {path.name}: {run.stdout}{run.stderr}"
        texts[path.stem] = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True,
                                          check=True, timeout=120).stdout
    return texts


def test_libreoffice_shows_no_hashes_in_any_report(rendered: dict[str, str]) -> None:
    shown_hashes = {name: text.count("###") for name, text in rendered.items() if name != NARROW}
    assert len(shown_hashes) == 6 + len(SCHEMES) + 1 + len(full_size_reports())
    assert shown_hashes == dict.fromkeys(shown_hashes, 0)


def test_the_check_sees_hashes_in_a_column_too_narrow(rendered: dict[str, str]) -> None:
    debits = [row[3] for row in full_size_reports()["trial-balance"]["sections"]["accounts"]["rows"]]
    assert rendered[NARROW].count("###") == sum(1 for d in debits if d > 10**9) > 0  # Rp0 still fits


def test_libreoffice_shows_figures_whole_in_indonesian_formats(rendered: dict[str, str]) -> None:
    tb, rec = rendered["full-trial-balance"], rendered["full-reconciliation"]
    for text in ("Rp922.434.766.000", "-Rp922.434.766.000", "Rp9.224.347.660.000", "refunds-payable:PNK-SOSIAL-2026",
                 "trial-balance report: accounts", "log position 1.188.564"):
        assert text in tb, text
    for text in ("PNK-SOSIAL-2026", "INV-PNK-SOSIAL-2026-2026-12", "101,20%", "20/11/2026", "-Rp2.459.520.000",
                 "as recorded by 2026-11-20T17:00:00+07:00"):
        assert text in rec, text
    assert "1.216.451" in rendered["full-members"] and "100,00%" in rendered["full-coverage"]
    assert "1.012,5" in rendered["full-claims"]
    demo_rec = rendered[f"demo-reconciliation-{SCHEMES[0].code}"]
    assert f"reconciliation report — {SCHEMES[0].code}" in demo_rec and "Rp" in demo_rec

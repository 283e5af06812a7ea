"""`jamsos demo`: the seed scenarios (docs/rules.md#seed-scenarios), read back from the ledger."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import stat
import subprocess
import sys
import zlib
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

from cli.seed_demo import DEMO_END, SCHEMES, run_demo
from commands.authorise import authenticate_password
from commands.messages import ForgetMember
from eventstore.bootstrap import Ledger, bootstrap
from eventstore.clock import WIB
from ledger.errors import InvalidInput
from ledger.identity import validate_nik
from projections.access import principals
from projections.registry import PROJECTIONS
from projections.reports import build_report
from tests.conftest import agreement_view, execute, member_view

DEMO_REGIONS = (b"6107", b"6171", b"6172", b"7471")


def _readable_niks(blob: bytes) -> list[bytes]:
    found = []
    for match in re.finditer(rb"(?<![0-9a-f])[0-9]{16}(?![0-9a-f])", blob):
        text = match.group(0)
        if text[:4] in DEMO_REGIONS:
            try:
                validate_nik(text.decode())
            except InvalidInput:
                continue
            found.append(text)
    return found


def test_small_demo_is_consistent_private_and_survives_forget(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("JAMSOS_DEMO_PASSWORD", DEMO_PASSWORD)
    summary = run_demo("jamsos.db", scale=0.02, quiet=True)
    status = subprocess.run([sys.executable, "-m", "cli", "project", "status", "--store", "jamsos.db",
                             "--json"], capture_output=True, text=True, timeout=60, env={**os.environ})
    assert status.returncode == 0, status.stderr
    projections = json.loads(status.stdout)["projections"]
    assert {p["projection"] for p in projections} == set(PROJECTIONS)  # every read model, each at the head
    assert all(p["lag"] == 0 and p["position"] == summary["events_recorded"] for p in projections), projections
    assert summary["read_models"] == dict.fromkeys(PROJECTIONS, summary["events_recorded"])
    heir = summary["bengkayang_heir"]
    jkm = heir["claims"][0]
    assert jkm["status"] == "PAID"
    assert jkm["amount_rp"] == 42_000_000
    assert jkm["components"] == {"lump_sum": 20_000_000, "periodic": 12_000_000, "funeral": 10_000_000}
    assert heir["refund_due_rp"] == 7 * 16_800
    assert [r["period"] for r in heir["refunds_due"]] == [f"2025-{m:02d}" for m in range(6, 13)]
    assert summary["kendari_death_benefits_rp"] == [113_000_000, 207_000_000]
    skw = summary["agreements"]["SKW-RENTAN-2025"]
    assert skw["contributions_paid_rp"] == skw["members_enrolled"] * 16_800 * 5
    money = summary["money"]
    assert money["journal_ok"] and money["journal_debit_rp"] == money["journal_credit_rp"] > 0
    totals = money["agreements"]
    for code, t in totals.items():  # every transfer matched its invoice; the stray one is Singkawang's exception
        assert t["billed_rp"] == t["paid_rp"] == t["received_rp"], code
        assert t["open_exceptions"] == (1 if code.startswith("SKW-") else 0), code
    assert totals["SKW-RENTAN-2025"]["expected_rp"] == skw["members_enrolled"] * 16_800 * 5
    assert totals["BKY-DESA-2025"]["expected_rp"] == totals["BKY-DESA-2025"]["billed_rp"] - 7 * 16_800
    assert totals["BKY-DESA-2025"]["refunds_due_rp"] == 7 * 16_800
    assert [i[:3] for i in money["open_items"] if i[0] == "refunds-payable:PEMKAB-BKY"] == [
        ["refunds-payable:PEMKAB-BKY", "BKY-JKM-2025-0001", 7 * 16_800]]
    assert summary["singkawang_active_2026_05_31"] == summary["agreements"]["SKW-SAWIT-2025"]["members_enrolled"]
    blob = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("jamsos"))
    with sqlite3.connect(tmp_path / "jamsos.db") as conn:  # compressed snapshot states, in plain text
        blob += b"".join(zlib.decompress(s) for (s,) in conn.execute("SELECT state FROM jamsos_snapshot_states"))
    assert b"ContributionPaid" in blob
    assert _readable_niks(blob) == []
    assert b"Peserta " not in blob and b"Ahli waris" not in blob
    assert DEMO_PASSWORD.encode() not in blob, "a web password reached the store"
    ledger = bootstrap("jamsos.db", create=False)
    try:
        check_web_users(ledger, tmp_path / "web-users.txt", summary)
        signed = [s.code for s in SCHEMES if s.signed_on <= date(2025, 12, 31)]
        before = {code: agreement_view(ledger, code, date(2025, 12, 31), None) for code in signed}
        execute(ledger, ForgetMember(nik=heir["nik"]))
        after = {code: agreement_view(ledger, code, date(2025, 12, 31), None) for code in signed}
        assert after == before
        view = member_view(ledger, heir["nik"], None, None, reveal=True)
        assert view["personal"].startswith("erased")
        assert view["claims"][0]["amount_rp"] == 42_000_000
    finally:
        ledger.close()


DEMO_PASSWORD = "kata sandi demo 2026"


def check_web_users(ledger: Ledger, path: Path, summary: dict[str, Any]) -> None:
    """The demo's three web users: scoped by the seed schemes (Bengkayang's payer, Singkawang's region), added by the
    local admin, their passwords set by the demo's admin and written, 0600, to ``web-users.txt`` only."""
    bky = next(s for s in SCHEMES if s.payer_name == "Pemkab Bengkayang")
    skw = next(s for s in SCHEMES if s.payer_name == "Pemkot Singkawang")
    expected = {"keuangan.bengkayang": ("finance", f"payer:{bky.payer_id}"), "auditor.bpk": ("auditor", "all"),
                "perencana.singkawang": ("budget-owner", f"region:{skw.region}")}
    assert summary["web_users"] == list(expected)
    assert Path(summary["web_users_file"]).resolve() == path.resolve()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    rows = [line.split("\t") for line in path.read_text(encoding="utf-8").splitlines() if not line.startswith("#")]
    assert {name: (role, scope) for name, role, scope, _ in rows} == expected
    assert {password for *_, password in rows} == {DEMO_PASSWORD}
    listed = {p["name"]: p for p in principals(ledger.store)}
    for name, (role, scope) in expected.items():
        actor = authenticate_password(ledger, name, DEMO_PASSWORD)
        assert ([r.value for r in actor.roles], str(actor.scope)) == ([role], scope)
        assert listed[name]["added_by"].startswith("local:") and listed[name]["password_set"]
    assert listed["demo-admin"]["added_by"].startswith("local:")
    head = ledger.store.max_notification_id()
    set_by = [json.loads(state)["actor"] for _, _, _, topic, state in ledger.store.read_log(head - 20, 20)
              if topic.endswith(":PrincipalPasswordSet")]
    assert set_by == ["demo-admin"] * len(expected)


@pytest.mark.slow
def test_full_demo_shows_the_seed_figures(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    s = run_demo("jamsos.db", quiet=True)
    a = s["agreements"]
    assert s["singkawang_active_2026_01_31"] == 8_504
    assert s["singkawang_active_2026_05_31"] == 767
    assert a["SKW-RENTAN-2025"]["contributions_paid_rp"] == 649_908_000
    assert a["SKW-SAWIT-2025"]["contributions_paid_rp"] == 154_627_200
    assert s["singkawang_contributions_rp"] == 804_535_200
    assert a["BKY-DESA-2025"]["members_enrolled"] == 12_200
    assert a["BKY-DESA-2025"]["contributions_paid_rp"] == 2_459_520_000
    assert a["BKY-DESA-2025"]["budget_rp"] == 2_429_520_000
    assert a["BKY-SAWIT-2025"]["members_enrolled"] == 2_100
    assert a["PNK-SOSIAL-2025"]["contributions_paid_rp"] == 353_001_600
    assert a["PNK-SOSIAL-2026"]["members_enrolled"] == 5_747
    assert s["pontianak_2025_claims"] == {"count": 73, "paid_rp": 3_060_000_000}
    assert s["bengkayang_heir"]["claims"][0]["amount_rp"] == 42_000_000
    assert s["bengkayang_heir"]["refund_due_rp"] == 117_600
    assert s["kendari_death_benefits_rp"] == [113_000_000, 207_000_000]
    money = s["money"]["agreements"]
    assert s["money"]["singkawang_expected_rp"] == 804_535_200
    assert money["BKY-DESA-2025"]["budget_status"] == "OVER_BUDGET"
    assert money["BKY-DESA-2025"]["billed_rp"] == 2_459_520_000 and money["BKY-DESA-2025"]["budget_rp"] == 2_429_520_000
    assert money["BKY-DESA-2025"]["refunds_due_rp"] == 117_600
    assert [code for code, t in money.items() if t["budget_status"] == "OVER_BUDGET"] == ["BKY-DESA-2025"]
    ledger = bootstrap("jamsos.db", create=False)
    try:
        report = build_report(ledger.store, "reconciliation", DEMO_END, None, datetime.now(WIB), "SKW-RENTAN-2025")
    finally:
        ledger.close()
    rows = {r[0]: r for r in report["sections"]["months"]["rows"]}
    assert sorted(rows) == ["2025-12", "2026-01", "2026-02", "2026-03", "2026-04"]
    assert all(r[1] == 7_737 and r[2] == r[4] == r[5] == r[6] == 7_737 * 16_800 for r in rows.values())

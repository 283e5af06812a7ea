"""Audit trail: hash chain, tamper detection (edit, removal, insertion, rewritten history), exactly-once
projection with restarts (including SIGKILL of a real process), failing events, rebuild."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select

from commands.bootstrap import Ledger, bootstrap
from commands.messages import CohortRow, ImportCohort, PayCohort
from projections.audit import AuditTrail, seal, verify
from projections.runner import ProjectionFailed, ProjectionRunner, views_engine
from tests.conftest import execute, nik
from tests.test_behaviour import AGREEMENT, sign

MEMBERS = 25


@pytest.fixture
def sqlite_ledger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("JAMSOS_KEY_FILE", str(tmp_path / "k.key"))
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    ledger = bootstrap(url)
    _fill(ledger)
    yield ledger, tmp_path / "ledger.db", url
    ledger.close()


def _fill(ledger: Ledger) -> None:
    sign(ledger)
    rows = [(k + 2, CohortRow(nik=nik(k), name=f"W{k}", role="PETANI")) for k in range(MEMBERS)]
    execute(ledger, ImportCohort(agreement_id=AGREEMENT, rows=rows, effective_on=date(2025, 1, 6)))
    for month in ("2025-01", "2025-02", "2025-03"):
        execute(ledger, PayCohort(agreement_id=AGREEMENT, periods=[month], amount_rp=MEMBERS * 16_800,
                                  payment_reference=f"SP2D-{month}", effective_on=date(2025, 3, 10)))


def _trail(ledger: Ledger) -> list[tuple[Any, ...]]:
    runner = ProjectionRunner(ledger.store, views_engine(ledger.store), AuditTrail)
    table = runner.active.table("audit_trail")
    with runner.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(table).order_by(table.c.position))]


def _tamper(db: Path, sql: str, *params: Any) -> None:
    with sqlite3.connect(db) as conn:
        conn.execute(sql, params)


def test_untouched_store_verifies_and_seal_matches(sqlite_ledger: Any) -> None:
    ledger, _, _ = sqlite_ledger
    sealed = seal(ledger.store, views_engine(ledger.store))
    assert sealed["position"] == ledger.store.max_notification_id()
    result = verify(ledger.store, views_engine(ledger.store), sealed["hash"])
    assert result["ok"] and result["checked"] == sealed["position"]
    assert all("Siti" not in str(row) and nik(0) not in str(row) for row in _trail(ledger))


def test_edited_event_is_named_by_position(sqlite_ledger: Any) -> None:
    ledger, db, _ = sqlite_ledger
    seal(ledger.store, views_engine(ledger.store))
    _tamper(db, "UPDATE stored_events SET state = CAST(replace(state, '16800', '16801') AS BLOB) WHERE rowid = ?", 40)
    result = verify(ledger.store, views_engine(ledger.store))
    assert not result["ok"]
    assert result["first_problem"].startswith("position 40:") and "edited" in result["first_problem"]


def test_removed_event_is_named_by_position(sqlite_ledger: Any) -> None:
    ledger, db, _ = sqlite_ledger
    seal(ledger.store, views_engine(ledger.store))
    _tamper(db, "DELETE FROM stored_events WHERE rowid = ?", 33)
    result = verify(ledger.store, views_engine(ledger.store))
    assert result["first_problem"].startswith("position 33:") and "removed" in result["first_problem"]


def test_inserted_event_is_named_by_position(sqlite_ledger: Any) -> None:
    ledger, db, _ = sqlite_ledger
    with sqlite3.connect(db) as conn:  # a gap in the positions (as a rolled-back PostgreSQL insert leaves)
        row = conn.execute("SELECT originator_id, originator_version, topic, state FROM stored_events "
                           "WHERE rowid = 20").fetchone()
        conn.execute("DELETE FROM stored_events WHERE rowid = 20")
    seal(ledger.store, views_engine(ledger.store))
    with sqlite3.connect(db) as conn:  # someone slips an event into the gap afterwards
        conn.execute("INSERT INTO stored_events (rowid, originator_id, originator_version, topic, state) "
                     "VALUES (20, ?, ?, ?, ?)", row)
    result = verify(ledger.store, views_engine(ledger.store))
    assert result["first_problem"].startswith("position 20:") and "inserted" in result["first_problem"]


def test_rewritten_history_fails_against_the_sealed_head(sqlite_ledger: Any) -> None:
    ledger, db, _ = sqlite_ledger
    engine = views_engine(ledger.store)
    sealed = seal(ledger.store, engine)
    _tamper(db, "UPDATE stored_events SET state = CAST(replace(state, '16800', '16801') AS BLOB) WHERE rowid = 40")
    ProjectionRunner(ledger.store, engine, AuditTrail).rebuild()  # the chain is rebuilt to match the edit
    assert verify(ledger.store, engine)["ok"]
    result = verify(ledger.store, engine, sealed["hash"])
    assert not result["ok"] and "sealed head" in result["first_problem"]


def test_cli_verify_exits_non_zero_naming_the_position(sqlite_ledger: Any) -> None:
    ledger, db, url = sqlite_ledger
    seal(ledger.store, views_engine(ledger.store))
    _tamper(db, "DELETE FROM stored_events WHERE rowid = 12")
    run = subprocess.run([sys.executable, "-m", "commands.cli", "audit", "verify", "--store", url, "--json"],
                         capture_output=True, text=True, env={**os.environ}, timeout=60)
    assert run.returncode == 7
    assert run.stderr.strip().startswith("error: audit: position 12:")


def poison_audit_at(monkeypatch: pytest.MonkeyPatch, position: int) -> Any:
    """Make the audit projection fail on the event at ``position``; returns the original ``apply``."""
    original = AuditTrail.apply

    def poisoned(self: AuditTrail, conn: Any, batch: Any) -> None:
        if any(e.position == position for e in batch):
            raise ValueError("poison")
        original(self, conn, batch)

    monkeypatch.setattr(AuditTrail, "apply", poisoned)
    return original


def test_failing_event_stops_only_its_projection(sqlite_ledger: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    ledger, _, _ = sqlite_ledger
    engine = views_engine(ledger.store)
    original = poison_audit_at(monkeypatch, 31)
    runner = ProjectionRunner(ledger.store, engine, AuditTrail)
    with pytest.raises(ProjectionFailed) as info:
        runner.catch_up(batch_size=10)
    assert info.value.position == 31
    status = runner.status()
    assert status["position"] == 30 and status["error_position"] == 31 and "poison" in status["last_error"]
    monkeypatch.setattr(AuditTrail, "apply", original)
    runner.catch_up(batch_size=10)
    assert runner.status()["last_error"] is None and runner.status()["lag"] == 0


def test_failing_event_in_a_group_stops_only_its_projection(
    sqlite_ledger: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One read of the log feeds both projections; when one fails, the other still reaches the head."""
    from projections.registers import Registers
    from projections.runner import ProjectionGroup

    ledger, _, _ = sqlite_ledger
    engine = views_engine(ledger.store)
    original = poison_audit_at(monkeypatch, 31)
    audit, registers = (ProjectionRunner(ledger.store, engine, p) for p in (AuditTrail, Registers))
    group = ProjectionGroup([audit, registers])
    with pytest.raises(ProjectionFailed) as info:
        group.catch_up(batch_size=10)
    assert info.value.name == "audit"
    assert audit.status()["position"] == 30 and audit.status()["error_position"] == 31
    assert registers.status()["lag"] == 0 and registers.status()["last_error"] is None
    monkeypatch.setattr(AuditTrail, "apply", original)
    applied = group.catch_up(batch_size=10)
    assert applied == {"audit": audit.status()["head"] - 30, "registers": 0}
    assert audit.status()["lag"] == 0 and audit.status()["last_error"] is None


def test_rebuild_batches_skip_checkpoints_and_hand_back_connections_with_them_on(sqlite_ledger: Any) -> None:
    """A rebuild's commits only append to the WAL (one checkpoint when the load is done); a connection goes
    back to the pool with automatic checkpoints on, so catching up afterwards checkpoints as usual."""
    from projections.runner import WAL_AUTOCHECKPOINT_PAGES, ProjectionGroup

    ledger, _, _ = sqlite_ledger
    engine = views_engine(ledger.store)
    seen: list[int] = []

    def autocheckpoint(conn: Any, *_: Any) -> None:
        seen.append(conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one())

    runner = ProjectionRunner(ledger.store, engine, AuditTrail)
    event.listen(engine, "commit", autocheckpoint)
    try:
        ProjectionGroup([runner]).rebuild(batch_size=10)
        during = list(seen)
        seen.clear()
        sign(ledger, code="AFTER-REBUILD")
        runner.catch_up()
    finally:
        event.remove(engine, "commit", autocheckpoint)
    assert 0 in during  # the rebuild's batches
    assert seen and set(seen) == {WAL_AUTOCHECKPOINT_PAGES}
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one() == WAL_AUTOCHECKPOINT_PAGES
    assert _trail(ledger)[-1][0] == ledger.store.max_notification_id()  # caught up past the rebuild


def test_sigkill_during_catch_up_then_restart_equals_rebuild(sqlite_ledger: Any) -> None:
    """Every projection, killed with SIGKILL at random points in a real process, then restarted, ends
    identical to a clean rebuild (the audit rows and every report, byte for byte)."""
    from projections.registers import Registers
    from tests.test_reports import _reports

    ledger, db, url = sqlite_ledger
    views = db.with_suffix(".views.db")
    env = {**os.environ, "JAMSOS_PROJECTION_BATCH": "3"}
    rng = random.Random(11)
    head = ledger.store.max_notification_id()
    kills = 0
    for _ in range(6):
        before = _positions(views)
        proc = subprocess.Popen([sys.executable, "-m", "commands.cli", "project", "run", "--store", url],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        deadline = time.monotonic() + 30
        while proc.poll() is None and time.monotonic() < deadline:
            now = _positions(views)
            if now != before and any(p < head for p in now.values()):  # it has committed, and is not done
                time.sleep(rng.uniform(0, 0.05))
                proc.send_signal(signal.SIGKILL)
                kills += 1
                break
            time.sleep(0.01)
        proc.wait(timeout=30)
    subprocess.run([sys.executable, "-m", "commands.cli", "project", "run", "--store", url], check=True, env=env,
                   capture_output=True, timeout=120)
    assert kills >= 3, f"only {kills} kill(s) landed mid-run"
    after_kills = _trail(ledger)
    reports_after_kills = _reports(ledger, date(2025, 3, 31))
    engine = views_engine(ledger.store)
    ProjectionRunner(ledger.store, engine, AuditTrail).rebuild()
    ProjectionRunner(ledger.store, engine, Registers).rebuild()
    assert _trail(ledger) == after_kills
    assert len(after_kills) == ledger.store.max_notification_id()
    assert _reports(ledger, date(2025, 3, 31)) == reports_after_kills


def _positions(views: Path) -> dict[str, int]:
    """Each projection's committed position, read straight from the views file (0 before it exists)."""
    if not views.exists():
        return {}
    try:
        with sqlite3.connect(views, timeout=1) as conn:
            return dict(conn.execute("SELECT name, position FROM jamsos_projection_positions").fetchall())
    except sqlite3.OperationalError:  # the table is not created yet, or the file is being written
        return {}


def test_trail_on_every_store_verifies_and_rebuilds_identically(ledger: Ledger) -> None:
    _fill(ledger)
    engine = views_engine(ledger.store)
    runner = ProjectionRunner(ledger.store, engine, AuditTrail)
    rng = random.Random(3)
    while runner.step(rng.randint(1, 13)):
        pass
    incremental = _trail(ledger)
    assert len(incremental) == ledger.store.max_notification_id()
    assert verify(ledger.store, engine)["ok"]
    runner.rebuild()
    assert _trail(ledger) == incremental
    assert runner.status()["generation"] == 2

"""Tamper evidence (the chain linked at write time, checked from stored bytes alone) and the audit trail
projection (exactly once with restarts, including SIGKILL of a real process; failing events; rebuild).

The tamper tests copy one store built once per module (a fresh copy per test)."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import psycopg
import pytest
from eventsourcing.persistence import StoredEvent
from sqlalchemy import event

from commands.messages import CohortRow, ImportCohort, PayCohort, RecordWorkforce
from eventstore.bootstrap import Ledger, bootstrap
from eventstore.chain import GENESIS, KIND_UPGRADE, KIND_WRITE, ChainError, split_leaves
from eventstore.store import CHAINED_APPLICATION_ID
from ledger.errors import ConcurrencyConflict
from projections.audit import AuditTrail, trail_select
from projections.chain_audit import EDITED, REMOVED, UNCHAINED, seal, verify
from projections.registry import PROJECTIONS, projection
from projections.runner import ProjectionFailed, ProjectionRunner, read_envelopes, views_engine
from tests.conftest import PG_URL, execute, nik
from tests.tamper import edit_postgres_state, with_state_functions
from tests.test_behaviour import AGREEMENT, sign

MEMBERS = 25
EVENTS = 159
"""What ``_fill`` writes, in five transactions: 1..2, 3..28, 29..80, 81..132, 133..159."""


def _fill(ledger: Ledger) -> None:
    sign(ledger)
    rows = [(k + 2, CohortRow(nik=nik(k), name=f"W{k}", role="PETANI")) for k in range(MEMBERS)]
    execute(ledger, ImportCohort(agreement_id=AGREEMENT, rows=rows, effective_on=date(2025, 1, 6)))
    for month in ("2025-01", "2025-02", "2025-03"):
        _pay(ledger, month)


def _pay(ledger: Ledger, month: str) -> None:
    execute(ledger, PayCohort(agreement_id=AGREEMENT, periods=[month], amount_rp=MEMBERS * 16_800,
                              payment_reference=f"SP2D-{month}", effective_on=date(2025, 3, 10)))


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("template")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("JAMSOS_KEY_FILE", str(folder / "k.key"))
        ledger = bootstrap(f"sqlite:///{folder / 'ledger.db'}")
        _fill(ledger)
        assert ledger.store.max_notification_id() == EVENTS
        ledger.close()
    return folder


@pytest.fixture
def sqlite_ledger(template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for f in template.iterdir():
        shutil.copy(f, tmp_path / f.name)
    monkeypatch.setenv("JAMSOS_KEY_FILE", str(tmp_path / "k.key"))
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    ledger = bootstrap(url)
    yield ledger, tmp_path / "ledger.db", url
    ledger.close()


def _trail(ledger: Ledger) -> list[tuple[Any, ...]]:
    runner = ProjectionRunner(ledger.store, views_engine(ledger.store), AuditTrail)
    query = trail_select(runner.active).order_by("position")
    with runner.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(query)]


def _tamper(db: Path, sql: str, *params: Any) -> int:
    with with_state_functions(sqlite3.connect(db)) as conn:
        return conn.execute(sql, params).rowcount


EDIT_AMOUNT = ("UPDATE stored_events SET state = edited(state, '16800', '16801') "
               "WHERE rowid = ? AND holds(state, '16800')")
"""One digit of a contribution's amount flipped (changes one row only if that row holds the amount)."""


def test_verify_checks_every_event_without_any_read_model(sqlite_ledger: Any) -> None:
    """Before `project run` the old verify checked nothing (`checked: 0`) and said ok."""
    ledger, db, _ = sqlite_ledger
    result = verify(ledger.store)
    assert result["ok"] and result["findings"] == []
    assert result["checked"] == result["chained"] == ledger.store.max_notification_id() == EVENTS
    assert result["batches"] == 5 and result["upgrades"] == [] and result["head_position"] == EVENTS
    assert not db.with_suffix(".views.db").exists()  # no read model was needed, none was built


def test_an_edit_after_the_seal_is_caught_and_a_new_seal_does_not_absorb_it(sqlite_ledger: Any) -> None:
    """The issue's blind window: sealed, then paid, then one digit of the payment flipped in the file."""
    ledger, db, _ = sqlite_ledger
    sealed = seal(ledger.store)
    assert (sealed["batch"], sealed["position"]) == (5, EVENTS)
    _pay(ledger, "2025-04")
    edited = EVENTS + 2  # EVENTS + 1 is the payment reference
    assert _tamper(db, EDIT_AMOUNT, edited) == 1
    expected = [f"position {edited}: {EDITED}"]
    assert verify(ledger.store)["findings"] == expected
    resealed = seal(ledger.store)
    assert resealed["position"] > EVENTS
    assert verify(ledger.store, resealed["hash"])["findings"] == expected  # the new seal covers the edit, visibly
    result = verify(ledger.store, sealed["hash"])
    assert result["findings"] == expected and result["sealed"] == {"hash": sealed["hash"], "chain": "write-time",
                                                                   "batch": 5}


def test_an_edited_event_is_named_by_position_and_nothing_else(sqlite_ledger: Any) -> None:
    ledger, db, _ = sqlite_ledger
    assert _tamper(db, EDIT_AMOUNT, 40) == 1
    result = verify(ledger.store)
    assert not result["ok"] and result["findings"] == [f"position 40: {EDITED}"]
    assert result["checked"] == EVENTS and result["chained"] == EVENTS - 1


def test_deleting_one_row_reports_exactly_that_position(sqlite_ledger: Any) -> None:
    """The old verify also reported the next position as edited."""
    ledger, db, _ = sqlite_ledger
    _tamper(db, "DELETE FROM stored_events WHERE rowid = 33")
    assert verify(ledger.store)["findings"] == [f"position 33: {REMOVED}"]
    _tamper(db, "DELETE FROM stored_events WHERE rowid IN (81, 82, 83)")  # a batch's first three
    assert verify(ledger.store)["findings"] == [f"position 33: {REMOVED}", f"positions 81..83 (3 events): {REMOVED}"]


def test_a_byte_breaking_the_json_exits_7_naming_the_position(sqlite_ledger: Any) -> None:
    """The old verify decoded every event and crashed (orjson.JSONDecodeError, exit 1)."""
    _, db, url = sqlite_ledger
    _tamper(db, "UPDATE stored_events SET state = CAST(substr(state, 2) AS BLOB) WHERE rowid = 40")  # no `{`
    _tamper(db, "UPDATE stored_events SET state = CAST(X'7BFF22' AS TEXT) WHERE rowid = 41")  # not even UTF-8
    run = subprocess.run([sys.executable, "-m", "cli", "audit", "verify", "--store", url, "--json"],
                         capture_output=True, text=True, env={**os.environ}, timeout=60)
    assert run.returncode == 7, run.stderr
    assert run.stderr.startswith(f"error: audit: positions 40..41 (2 events): {EDITED}"), run.stderr
    assert "Traceback" not in run.stderr
    assert json.loads(run.stdout)["findings"] == [f"positions 40..41 (2 events): {EDITED}"]


def test_events_written_around_the_chain_are_reported(sqlite_ledger: Any) -> None:
    """An event the chain never saw (the library's own insert, i.e. code before the chain, or a row slipped in
    by hand) is named; writes through the ledger afterwards go on being linked."""
    ledger, db, _ = sqlite_ledger
    ledger.store.recorder.insert_events([StoredEvent(originator_id=uuid.uuid4(), originator_version=1,
                                                     topic="ledger.events:AgreementClosed", state=b"{}")])
    _tamper(db, "INSERT INTO stored_events (rowid, originator_id, originator_version, topic, state) "
                "VALUES (500, ?, 1, 'ledger.events:AgreementClosed', CAST('{}' AS BLOB))", uuid.uuid4().hex)
    sign(ledger, code="AFTER-INSERT")
    result = verify(ledger.store)
    assert result["findings"] == [f"position {EVENTS + 1}: {UNCHAINED}", f"position 500: {UNCHAINED}"]
    assert result["chained"] == result["checked"] - 2 and result["head_position"] > 500


def test_an_edited_leaf_is_named_by_position(sqlite_ledger: Any) -> None:
    ledger, db, _ = sqlite_ledger
    (leaves,) = sqlite3.connect(db).execute("SELECT leaves FROM jamsos_chain WHERE batch = 3").fetchone()
    forged = bytearray(leaves)
    forged[(40 - 29) * 32] ^= 1
    _tamper(db, "UPDATE jamsos_chain SET leaves = ? WHERE batch = 3", bytes(forged))
    assert verify(ledger.store)["findings"] == [
        f"position 40: {EDITED}",
        "position 40: batch 3: the leaf hash stored for this event was edited (the event itself matches the "
        "batch's Merkle root)"]


def test_a_removed_chain_row_is_named_with_the_events_it_linked(sqlite_ledger: Any) -> None:
    ledger, db, _ = sqlite_ledger
    _tamper(db, "DELETE FROM jamsos_chain WHERE batch = 4")
    assert verify(ledger.store)["findings"] == [
        "position 81: batch 4 removed from the chain (the events it linked show as not in the chain)",
        f"positions 81..132 (52 events): {UNCHAINED}"]


def test_an_edited_chain_row_is_named(sqlite_ledger: Any) -> None:
    ledger, db, _ = sqlite_ledger
    _tamper(db, "UPDATE jamsos_chain SET recorded_at = '2024-01-01T00:00:00+00:00' WHERE batch = 2")
    assert verify(ledger.store)["findings"] == [
        "position 3: batch 2: the chain row's content no longer gives its hash (chain row edited)"]


def _relink(ledger: Ledger) -> None:
    """What an attacker with the code can do: write the chain again over the edited bytes."""
    store: Any = ledger.store
    with store._tx(commit=True) as c:
        store._plain_cursor(c)
        c.execute("DELETE FROM jamsos_chain")
        store._link_existing(c)


def test_history_rewritten_with_its_chain_fails_against_the_sealed_head(sqlite_ledger: Any) -> None:
    ledger, db, _ = sqlite_ledger
    sealed = seal(ledger.store)
    assert _tamper(db, EDIT_AMOUNT, 40) == 1
    _relink(ledger)
    alone = verify(ledger.store)
    assert alone["ok"] and alone["upgrades"][0]["last_position"] == EVENTS  # consistent, and dated: re-linked
    result = verify(ledger.store, sealed["hash"])
    assert not result["ok"] and result["findings"] == [
        f"position {EVENTS}: the sealed head {sealed['hash']} is not in the chain, nor in the audit projection's "
        "former chain recomputed from the stored events (history rewritten)"]


def test_a_dropped_chain_table_is_recreated_empty_and_never_relinked(sqlite_ledger: Any) -> None:
    ledger, db, url = sqlite_ledger
    sealed = seal(ledger.store)
    ledger.close()
    assert _tamper(db, EDIT_AMOUNT, 40) == 1
    _tamper(db, "DROP TABLE jamsos_chain")
    again = bootstrap(url)  # the store says it was chained: no upgrade
    try:
        assert again.store.chain_head() is None
        result = verify(again.store, sealed["hash"])
        assert result["findings"][0] == f"positions 1..{EVENTS} ({EVENTS} events): {UNCHAINED}"
        assert "history rewritten" in result["findings"][1] and len(result["findings"]) == 2
    finally:
        again.close()


def test_verify_rejects_a_malformed_head(sqlite_ledger: Any) -> None:
    from ledger.errors import InvalidInput

    ledger, _, _ = sqlite_ledger
    for head in ("xyz", "ab" * 31):
        with pytest.raises(InvalidInput, match="64 hexadecimal"):
            verify(ledger.store, head)


@pytest.mark.slow
def test_prove_then_check_proof_offline_and_a_forged_one_exits_7(sqlite_ledger: Any, tmp_path: Path) -> None:
    ledger, _, url = sqlite_ledger
    head = seal(ledger.store)["hash"]
    cli = [sys.executable, "-m", "cli", "audit"]
    run = subprocess.run([*cli, "prove", "--position", "40", "--store", url], capture_output=True, text=True,
                         timeout=60, env={**os.environ})
    assert run.returncode == 0, run.stderr
    proof = json.loads(run.stdout)
    assert proof["batch"] == 3 and proof["index"] == 11 and len(proof["links"]) == 3
    (tmp_path / "proof.json").write_text(run.stdout)
    proof["event"]["state_sha256"] = hashlib.sha256(b"another state").hexdigest()
    (tmp_path / "forged.json").write_text(json.dumps(proof))
    good = subprocess.run([*cli, "check-proof", str(tmp_path / "proof.json"), "--head", head, "--json"],
                          capture_output=True, text=True, timeout=60)
    assert good.returncode == 0 and json.loads(good.stdout)["position"] == 40
    bad = subprocess.run([*cli, "check-proof", str(tmp_path / "forged.json"), "--head", head], capture_output=True,
                         text=True, timeout=60)
    assert bad.returncode == 7 and bad.stderr.startswith("error: proof: the event's identity and digest")


# --- the one-time upgrade of a store written before the chain ----------------------------------------


def _old_projection_heads(store: Any, at: set[int]) -> dict[int, str]:
    """The heads the audit projection sealed before the write-time chain: its formula, as it read the log."""
    heads = {}
    previous = bytes(32)
    for e in read_envelopes(store, 0, 10_000):
        head = b"%d\x1f%s\x1f%d\x1f%s\x1f" % (e.position, e.originator_id.encode(), e.originator_version,
                                             e.event_type.encode())
        previous = hashlib.sha256(previous + head + e.state).digest()
        if e.position in at:
            heads[e.position] = previous.hex()
    return heads


def _run_sql(url: str, *statements: str) -> None:
    if url.startswith("sqlite:"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            for statement in statements:
                conn.execute(statement)
        return
    schema = url.rsplit("schema=", 1)[1]
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'SET search_path TO "{schema}"')
        for statement in statements:
            conn.execute(statement)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def chained_url(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("JAMSOS_KEY_FILE", str(tmp_path / "k.key"))
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}"
    return str(request.getfixturevalue("pg_schema_url"))


def test_an_old_store_is_linked_once_on_open_and_its_old_seals_still_verify(chained_url: str) -> None:
    url = chained_url
    ledger = bootstrap(url)
    _fill(ledger)
    if url.startswith("postgresql"):  # a hole, as a rolled-back insert leaves one
        _run_sql(url, "SELECT nextval(pg_get_serial_sequence('jamsos_events', 'notification_id'))")
    sign(ledger, code="AFTER-HOLE")
    old = _old_projection_heads(ledger.store, {80, ledger.store.max_notification_id()})
    head = ledger.store.max_notification_id()
    ledger.close()
    # what a store written before this change looks like: events, no chain table, no marker
    _run_sql(url, "DROP TABLE jamsos_chain", "PRAGMA application_id = 0" if url.startswith("sqlite")
             else "COMMENT ON TABLE jamsos_events IS NULL")

    ledger = bootstrap(url)  # the one-time upgrade
    try:
        rows = ledger.store.chain_rows(0, 100)
        assert {r.kind for r in rows} == {KIND_UPGRADE}
        held = [p for r in rows for p in range(r.first_position, r.last_position + 1)]
        assert held == [e[0] for e in ledger.store.raw_events(0, 1000)]  # every event, holes left out
        result = verify(ledger.store)
        assert result["ok"] and result["checked"] == result["chained"] == len(held)
        (upgrade,) = result["upgrades"]
        assert (upgrade["first_position"], upgrade["last_position"], upgrade["events"]) == (1, head, len(held))
        for position, sealed in old.items():
            checked = verify(ledger.store, sealed)
            assert checked["ok"] and checked["sealed"]["position"] == position, checked
        sign(ledger, code="AFTER-UPGRADE")
        assert ledger.store.chain_head().kind == KIND_WRITE
    finally:
        ledger.close()
    ledger = bootstrap(url)  # opened again: nothing re-linked
    try:
        assert [r.hash for r in ledger.store.chain_rows(0, 100)][: len(rows)] == [r.hash for r in rows]
        assert verify(ledger.store)["ok"]
        if url.startswith("sqlite"):
            assert _tamper(Path(url.removeprefix("sqlite:///")), EDIT_AMOUNT, 40) == 1
        else:
            with psycopg.connect(PG_URL, autocommit=True) as conn:
                conn.execute(f'SET search_path TO "{url.rsplit("schema=", 1)[1]}"')
                assert edit_postgres_state(conn, "jamsos_events", 40, "16800", "16801") == 1
        result = verify(ledger.store, old[80])
        assert result["findings"][0] == f"position 40: {EDITED}"
        assert "history rewritten" in result["findings"][1] and len(result["findings"]) == 2
    finally:
        ledger.close()


# --- one transaction, one writer at a time ---------------------------------------------------------------


def test_a_write_and_its_link_commit_together_on_every_store(ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    sign(ledger)
    store = ledger.store
    before = (store.max_notification_id(), store.chain_head())

    def boom(*_: Any) -> bytes:
        raise ChainError("linking failed")

    monkeypatch.setattr("eventstore.store_memory.write_leaves", boom)
    monkeypatch.setattr("eventstore.chain_store.write_leaves", boom)
    with pytest.raises(ChainError):
        sign(ledger, code="NEVER")
    assert (store.max_notification_id(), store.chain_head()) == before  # no event without its link
    monkeypatch.undo()
    with pytest.raises(ConcurrencyConflict):  # a losing writer: no link without its events
        store.write_rows([(uuid.uuid5(uuid.NAMESPACE_URL, "x"), 1, "ledger.events:X", b"{}")] * 2, [], {})
    assert store.chain_head() == before[1]
    sign(ledger, code="AFTER")
    result = verify(store)
    assert result["ok"] and result["batches"] == 2  # holes on PostgreSQL: the rolled-back inserts' ids
    assert result["checked"] == result["chained"] == len(store.raw_events(0, 100)) == 4


@pytest.mark.parametrize("url_kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_concurrent_writers_never_fork_the_chain(url_kind: str, request: pytest.FixtureRequest, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JAMSOS_KEY_FILE", str(tmp_path / "k.key"))
    url = f"sqlite:///{tmp_path / 'c.db'}" if url_kind == "sqlite" else request.getfixturevalue("pg_schema_url")
    writers = [bootstrap(url) for _ in range(2)]  # two stores: two connection pools, as two processes have
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []
    per_writer = 12

    def write(w: int) -> None:
        try:
            barrier.wait(timeout=30)
            for k in range(per_writer):
                execute(writers[w], RecordWorkforce(region_code=f"6{w + 1}.{k + 10}", workforce=100 + k, source="t",
                                                    effective_on=date(2025, 1, 1), command_id=f"w{w}-{k}"))
        except BaseException as exc:  # asserted below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    try:
        assert errors == []
        rows = writers[0].store.chain_rows(0, 100)
        assert [r.batch for r in rows] == list(range(1, 2 * per_writer + 1))
        assert [r.previous for r in rows] == [GENESIS] + [r.hash for r in rows[:-1]]
        result = verify(writers[0].store)
        assert result["ok"] and result["checked"] == writers[0].store.max_notification_id()
        assert sum(len(split_leaves(r.leaves)) for r in rows) == result["checked"]
    finally:
        for w in writers:
            w.close()


def test_sqlite_marks_a_chained_store(sqlite_ledger: Any) -> None:
    _, db, _ = sqlite_ledger
    assert sqlite3.connect(db).execute("PRAGMA application_id").fetchone()[0] == CHAINED_APPLICATION_ID


# --- the audit trail projection ---------------------------------------------------------------------------


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
    """A rebuild's commits append to the WAL (copied into the database only when it is large, and when the load
    is done); a connection goes back to the pool with automatic checkpoints on, so catching up afterwards
    checkpoints as usual."""
    from projections.runner import REBUILD_WAL_CHECKPOINT_PAGES, WAL_AUTOCHECKPOINT_PAGES, ProjectionGroup

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
    assert REBUILD_WAL_CHECKPOINT_PAGES in during  # the rebuild's batches
    assert seen and set(seen) == {WAL_AUTOCHECKPOINT_PAGES}
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one() == WAL_AUTOCHECKPOINT_PAGES
    assert _trail(ledger)[-1][0] == ledger.store.max_notification_id()  # caught up past the rebuild


def test_a_rebuild_keeps_its_wal_near_the_checkpoint_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A province's rebuild wrote a 28 GB WAL before its one checkpoint (the views twice on disk). With a
    checkpoint once the WAL holds ``REBUILD_WAL_CHECKPOINT_PAGES``, it stays within that plus one batch."""
    from projections import runner as runner_module
    from projections.runner import ProjectionGroup

    monkeypatch.setenv("JAMSOS_KEY_FILE", str(tmp_path / "k.key"))
    ledger = bootstrap(f"sqlite:///{tmp_path / 'ledger.db'}")
    try:
        sign(ledger, last="2025-12")
        rows = [(k + 2, CohortRow(nik=nik(k), name=f"W{k}", role="PETANI")) for k in range(300)]
        execute(ledger, ImportCohort(agreement_id=AGREEMENT, rows=rows, effective_on=date(2025, 1, 6)))
        for month in ("2025-01", "2025-02", "2025-03"):
            execute(ledger, PayCohort(agreement_id=AGREEMENT, periods=[month], amount_rp=300 * 16_800,
                                      payment_reference=f"SP2D-{month}", effective_on=date(2025, 3, 10)))
        # the file shrinks back to journal_size_limit when the WAL restarts: a small one shows the WAL's own size
        monkeypatch.setattr(runner_module, "WAL_SIZE_LIMIT_BYTES", 0)
        engine = views_engine(ledger.store)
        wal = tmp_path / "ledger.views.db-wal"

        def largest_wal(pages: int) -> tuple[int, int]:
            """The WAL's largest size during a rebuild, and its largest growth in one batch."""
            monkeypatch.setattr(runner_module, "REBUILD_WAL_CHECKPOINT_PAGES", pages)
            sizes = [wal.stat().st_size if wal.exists() else 0]
            group = ProjectionGroup([ProjectionRunner(ledger.store, engine, projection(n)) for n in PROJECTIONS])
            group.rebuild(batch_size=10, progress=lambda _n: sizes.append(wal.stat().st_size))
            return max(sizes), max(b - a for a, b in itertools.pairwise(sizes))

        unbounded, batch_bytes = largest_wal(10**9)
        with engine.connect() as conn:
            page_bytes = conn.exec_driver_sql("PRAGMA page_size").scalar_one()
        bounded, _ = largest_wal(16)
        assert bounded <= 16 * page_bytes + 2 * batch_bytes, (bounded, unbounded, batch_bytes)
        assert bounded * 3 < unbounded, (bounded, unbounded)
    finally:
        ledger.close()


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
        proc = subprocess.Popen([sys.executable, "-m", "cli", "project", "run", "--store", url],
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
    subprocess.run([sys.executable, "-m", "cli", "project", "run", "--store", url], check=True, env=env,
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
    result = verify(ledger.store)
    assert result["ok"] and result["checked"] == result["chained"] == EVENTS and result["batches"] == 5
    runner.rebuild()
    assert _trail(ledger) == incremental
    assert runner.status()["generation"] == 2


def test_a_position_beyond_the_stores_integers_is_refused_naming_it() -> None:
    """``audit prove --position`` past a signed 64-bit integer: one line naming ``position``, never a traceback."""
    from typer.testing import CliRunner

    from cli.app import app

    result = CliRunner().invoke(app, ["audit", "prove", "--position", str(2**64), "--store", "memory://"])
    assert result.exit_code == 2, result.output
    assert "position: must be a position of the log" in result.output and "Traceback" not in result.output

"""PostgreSQL's bulk write (binary COPY into a staging table, one INSERT ... SELECT under the table lock) stores
exactly what the array insert stores: the same rows at the same positions, the same snapshot rows, the same chain.

The recorder contract (tests/test_recorder_contract.py) runs its concurrent writers through both paths (writes of
100 and 1,000 events take the COPY, writes of 1 to 3 the array insert).
"""

from __future__ import annotations

import dataclasses
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest

from eventstore import store_postgres
from eventstore.rows import SnapshotParams
from eventstore.store import EventRow, LedgerStore, open_store
from ledger.errors import ConcurrencyConflict
from projections.chain_audit import verify
from tests.conftest import PG_URL

pytestmark = pytest.mark.postgres

N = 300


def _rows(n: int) -> tuple[list[EventRow], list[SnapshotParams], dict[bytes, bytes]]:
    shared = b'{"same":"state for many"}'
    events: list[EventRow] = []
    snapshots: list[SnapshotParams] = []
    for k in range(n):
        aggregate_id = uuid.uuid5(uuid.NAMESPACE_URL, f"member-{k}")
        state = shared if k % 3 else b'{"own":%d,"text":"\xc3\xa9\\u0000"}' % k
        events.append((aggregate_id, 1, "ledger.events:MemberEnrolled", state))
        events.append((aggregate_id, 2, f"ledger.events:Topic{k % 4}", shared))
        digest = bytes([k % 7]) * 16
        snapshots.append((aggregate_id, "Member", 1, "AGR" if k % 2 else None, None, 0, digest))
        snapshots.append((aggregate_id, "Member", 2, None if k % 5 else "AGR", "2025-03-01" if k % 2 else None,
                          k % 2, digest))  # the same aggregate twice: its later version wins
    return events, snapshots, {bytes([d]) * 16: b"state %d" % d for d in range(7)}


def _next(n: int) -> tuple[list[EventRow], list[SnapshotParams]]:
    """Version 3 of every aggregate of :func:`_rows`: an update of each stored snapshot (some change cohort), and
    a stale row (version 1) for some, which must change nothing."""
    events: list[EventRow] = []
    snapshots: list[SnapshotParams] = []
    for k in range(n):
        aggregate_id = uuid.uuid5(uuid.NAMESPACE_URL, f"member-{k}")
        events.append((aggregate_id, 3, "ledger.events:ContributionPaid", b'{"paid":true}'))
        snapshots.append((aggregate_id, "Member", 3, "AGR" if k % 3 else "OTHER", "2025-04-01", 0, bytes([k % 7]) * 16))
        if k % 10 == 0:
            snapshots.append((aggregate_id, "Member", 1, None, None, 1, bytes([k % 7]) * 16))
    return events, snapshots


def _written(store: LedgerStore) -> tuple[Any, ...]:
    ids = sorted({e[0] for e in _rows(N)[0]})
    snaps = store.snapshots(ids)
    return (store.raw_events(0, 10 * N), sorted((r.aggregate_id, r.version, r.cohort, r.due_on, r.has_claims,
                                                 r.state_hash, r.state) for r in snaps.values()))


def _open(url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LedgerStore:
    monkeypatch.setenv("JAMSOS_KEY_FILE", str(tmp_path / "k.key"))
    return open_store(url)


def test_copy_path_writes_what_the_array_insert_writes(pg_schema_url: str, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    events, snapshots, states = _rows(N)
    copied = _open(pg_schema_url, tmp_path, monkeypatch)
    try:
        assert copied.write_rows([events[0]], [], {}) == 1  # a small write first: the bulk one starts at 2
        assert copied.write_rows(events[1:], snapshots, states) == 2
        later, updates = _next(N)
        copied.write_rows(later, updates, states)
        by_copy = _written(copied)
        chain = [(r.first_position, r.leaves, r.root) for r in copied.chain_rows(0, 10)]
        assert verify(copied)["ok"]
    finally:
        copied.close()
    other = pg_schema_url.rsplit("schema=", 1)[0] + f"schema=t_{uuid.uuid4().hex[:12]}"
    monkeypatch.setattr(store_postgres, "COPY_MIN_ROWS", 10**9)
    arrays = _open(other, tmp_path, monkeypatch)
    try:
        arrays.write_rows([events[0]], [], {})
        arrays.write_rows(events[1:], snapshots, states)
        arrays.write_rows(later, updates, states)
        assert _written(arrays) == by_copy
        assert [(r.first_position, r.leaves, r.root) for r in arrays.chain_rows(0, 10)] == chain
    finally:
        arrays.close()
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{other.rsplit("schema=", 1)[1]}" CASCADE')


def test_a_colliding_copy_writes_nothing(pg_schema_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    events, snapshots, states = _rows(N)
    store = _open(pg_schema_url, tmp_path, monkeypatch)
    try:
        store.write_rows(events[:100], snapshots[:100], states)
        before = (store.max_notification_id(), store.chain_head(), _written(store))
        with pytest.raises(ConcurrencyConflict):  # events[99] is written already
            store.write_rows(events[99:], snapshots, states)
        assert (store.max_notification_id(), store.chain_head(), _written(store)) == before
        first = store.write_rows(events[100:], snapshots[100:], states)  # the transaction's staging tables are gone
        assert first > before[0]
        found = verify(store)
        assert found["ok"] and found["chained"] == 2 * N
    finally:
        store.close()


def test_the_newer_events_are_read_by_primary_key_whatever_the_planner_prefers(
        pg_schema_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The heads' query (the events after each snapshot's version) stays one index range per aggregate even where
    the planner would rather hash the whole events table, as it did at 13.5M events without statistics (a server
    with autovacuum off): here it is told nested loops cost too much, and the plan must still be one."""
    store = _open(pg_schema_url, tmp_path, monkeypatch)
    try:
        events, snapshots, states = _rows(N)
        store.write_rows(events, snapshots, states)
        ids = [uuid.uuid5(uuid.NAMESPACE_URL, f"member-{k}") for k in range(3)]
        with store._tx(commit=False) as c:  # type: ignore[attr-defined]
            c.execute("SET LOCAL enable_nestloop = off")
            c.execute("EXPLAIN " + store._newer_sql, [ids, [1, 1, 1]])  # type: ignore[attr-defined]
            plan = "\n".join(str(next(iter(row.values()))) for row in c.fetchall())
        assert plan.lstrip().startswith("Nested Loop") and "Seq Scan on jamsos_events" not in plan, plan
        behind = [dataclasses.replace(r, version=1) for r in store.snapshots(ids).values()]  # snapshots at version 1
        assert [[topic for topic, _ in h.newer] for h in store.heads(behind)] == [
            [e[2] for e in events if e[0] == r.aggregate_id and e[1] == 2] for r in behind]
    finally:
        store.close()

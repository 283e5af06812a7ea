"""The event store port and its three adapters (memory, SQLite, PostgreSQL) over eventsourcing 9.5.

What the library gives: the recorders (tables, optimistic concurrency on (originator_id, version),
notification ids, readers), the environment-driven factory, the optional app-wide cipher/compressor.
What this module adds: one transaction that writes the events **and** each aggregate's snapshot row,
so the bulk paths and sweeps read a cohort's current state in one query instead of replaying streams.

Snapshot states are content-addressed: ``jamsos_snapshots`` holds per aggregate its version, index
columns and the hash of its (zlib-compressed) state; ``jamsos_snapshot_states`` holds each distinct
state once. Members in the same situation share one state, so a cohort payment rewrites a small row
per member, not a blob.

Invariants:
- ``save``/``write`` are all-or-nothing: events and snapshots commit together or not at all.
- A losing concurrent writer gets :class:`ledger.errors.ConcurrencyConflict`; nothing of it is written.
- A write given a :class:`LogGuard` commits only if no event of the guard's types was written after the guard's
  position; it is checked in the write's own transaction, under the events table's write lock (see
  :meth:`SqlStore._write`), else the write raises ConcurrencyConflict and writes nothing.
- A snapshot row is a cache: readers replay any events newer than it (:meth:`LedgerStore.heads`), so it
  can never hide one, and a stale one could only cause a version conflict, never a wrong write.
- Every write is linked into the audit chain (:mod:`eventstore.chain`) in its own transaction: one chain row
  per write, holding its positions, the leaf of each event and their Merkle root. No stored event is ever
  outside the chain unless something other than this code wrote (or removed) it.
"""

from __future__ import annotations

import abc
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from eventsourcing.application import Application
from eventsourcing.persistence import IntegrityError, Notification, StoredEvent

from eventstore.chain import ChainRow, RawEvent
from eventstore.files import private_file
from eventstore.mapper import JsonBytesTranscoder, PydanticMapper
from eventstore.rows import (
    CHAINED_APPLICATION_ID,
    CHAINED_COMMENT,
    CHUNK_IDS_MAX,
    READ_LIMIT_MAX,
    SCHEMA_LOCK_KEY,
    SNAPSHOT_COMPRESSION_LEVEL,
    SNAPSHOT_TABLE,
    STATE_HASH_BYTES,
    STATE_TABLE,
    A,
    EventRow,
    Head,
    LogGuard,
    LogRow,
    Matters,
    PreparedWrite,
    SnapshotParams,
    SnapshotRow,
    event_rows,
    snapshot_row,
    topic_of,
)
from eventstore.settings import APPLICATION_NAME, StoreSettings
from ledger.aggregate import Aggregate
from ledger.errors import ConcurrencyConflict
from ledger.events import LedgerEvent

__all__ = [
    "CHAINED_APPLICATION_ID", "CHAINED_COMMENT", "CHUNK_IDS_MAX", "READ_LIMIT_MAX", "SCHEMA_LOCK_KEY",
    "SNAPSHOT_COMPRESSION_LEVEL", "SNAPSHOT_TABLE", "STATE_HASH_BYTES", "STATE_TABLE", "EventRow", "Head",
    "LedgerApplication", "LedgerStore", "LogGuard", "LogRow", "Matters", "PreparedWrite", "SnapshotParams",
    "SnapshotRow", "event_rows", "open_store", "snapshot_row", "topic_of",
]


class LedgerApplication(Application[uuid.UUID]):
    """The library application: named explicitly (it names the PostgreSQL tables)."""

    name = APPLICATION_NAME

    def construct_mapper(self) -> PydanticMapper:
        return self.factory.mapper(transcoder=JsonBytesTranscoder(), mapper_class=PydanticMapper)  # type: ignore[return-value]


class LedgerStore(abc.ABC):
    """Port: load aggregates, save them atomically, read the log in order."""

    settings: StoreSettings

    def __init__(self, settings: StoreSettings) -> None:
        self.settings = settings
        self._close_hooks: list[Callable[[], None]] = []
        self.app = LedgerApplication(env=settings.library_env())
        self.mapper: PydanticMapper = self.app.mapper  # type: ignore[assignment]
        self.recorder: Any = self.app.recorder
        self._create_snapshot_tables()
        self._create_chain()

    # --- writing ---------------------------------------------------------------------------------

    def save(self, *aggregates: Aggregate[Any], guard: LogGuard | None = None) -> int:
        """Write every pending event of ``aggregates`` and their snapshots in one transaction (only if
        ``guard`` holds, checked in that transaction)."""
        prepared = self.prepare(*aggregates)
        if prepared is None:
            assert guard is None, "a guarded decision writes at least its command record"
            return 0
        self.write_prepared(prepared, guard=guard)
        return len(prepared.events)

    def prepare(self, *aggregates: Aggregate[Any]) -> PreparedWrite | None:
        """The rows :meth:`save` would write for ``aggregates`` (their pending events are collected: the
        aggregates hold none afterwards), or None if they have no pending event. Touches no database."""
        events: list[LedgerEvent] = []
        touched: list[Aggregate[Any]] = []
        for agg in aggregates:
            pending = agg.collect_events()
            if pending:
                events.extend(pending)
                touched.append(agg)
        if not events:
            return None
        snapshots = [snapshot_row(a) for a in touched if a.snapshotted]
        return PreparedWrite(event_rows(self.mapper.to_stored_event(e) for e in events),
                             [r.params_for(r.aggregate_id, r.version) for r in snapshots],
                             {r.state_hash: r.state for r in snapshots})

    def write_prepared(self, *prepared: PreparedWrite, guard: LogGuard | None = None) -> None:
        """Write the rows of every one of ``prepared`` in ONE transaction (all or nothing, one chain row), in
        order; with ``guard``, only if it holds (so a guarded write is given alone: the guard checks the log
        before this write's first event, not the events of the others before it in the same write)."""
        assert guard is None or len(prepared) == 1, "a guard holds for one decision, not a batch of them"
        states: dict[bytes, bytes] = {}
        for p in prepared:
            states.update(p.states)
        self.write_rows([e for p in prepared for e in p.events], [s for p in prepared for s in p.snapshots],
                        states, guard)

    def write(self, stored: Sequence[StoredEvent], snapshots: Sequence[SnapshotRow],
              guard: LogGuard | None = None) -> None:
        """Append stored events and upsert snapshots atomically."""
        self.write_rows(
            event_rows(stored),
            [r.params_for(r.aggregate_id, r.version) for r in snapshots],
            {r.state_hash: r.state for r in snapshots},
            guard,
        )

    def write_rows(
        self, events: Sequence[EventRow], snapshots: Sequence[SnapshotParams], states: dict[bytes, bytes],
        guard: LogGuard | None = None,
    ) -> int:
        """Append events and upsert snapshot rows (and any new snapshot states) in one transaction; with
        ``guard``, only if no event of its types is after its position (else ConcurrencyConflict). The position
        of the first event: the events hold ``first, first + 1, ...`` in order, without a hole."""
        assert events, "nothing to write"
        try:
            return self._write(events, snapshots, list(states.items()), guard)
        except IntegrityError as e:
            raise ConcurrencyConflict(
                "aggregate", "another command changed the same record first; retry to re-decide"
            ) from e

    @abc.abstractmethod
    def _write(
        self, events: Sequence[EventRow], snapshots: Sequence[SnapshotParams], states: list[tuple[bytes, bytes]],
        guard: LogGuard | None,
    ) -> int: ...

    @abc.abstractmethod
    def _create_snapshot_tables(self) -> None: ...

    @abc.abstractmethod
    def _create_chain(self) -> None:
        """Create the chain table if missing; link the events of a store written before it (once)."""

    @abc.abstractmethod
    def collect_unused_states(self) -> int:
        """Delete snapshot states no aggregate points at any more; returns how many."""

    # --- reading ---------------------------------------------------------------------------------

    def events_of(self, aggregate_id: uuid.UUID, after_version: int = 0) -> list[LedgerEvent]:
        stored = self.recorder.select_events(aggregate_id, gt=after_version or None)
        return [self.mapper.to_domain_event(s) for s in stored]

    def load(self, cls: type[A], aggregate_id: uuid.UUID) -> A:
        """The aggregate at its latest version (a fresh one with version 0 if it has no events)."""
        row = self.snapshots([aggregate_id]).get(aggregate_id)
        agg = row.aggregate(cls) if row is not None and row.kind == cls.__name__ else cls(aggregate_id)
        return cls.replay(aggregate_id, self.events_of(aggregate_id, agg.version), base=agg)

    def load_many(self, cls: type[A], ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, A]:
        """Current state of many aggregates in a few queries per 500 ids (new ones at version 0)."""
        wanted = list(dict.fromkeys(ids))
        found = self.load_existing(cls, wanted)
        return {i: found[i] if i in found else cls(i) for i in wanted}

    def load_existing(self, cls: type[A], ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, A]:
        """The aggregates among ``ids`` that have events, at their latest version."""
        rows = self.snapshots(ids)
        out: dict[uuid.UUID, A] = {}
        for head in self.heads([r for r in rows.values() if r.kind == cls.__name__]):
            out[head.aggregate_id] = head.aggregate(cls, self.mapper)
        missing = [i for i in ids if i not in out]
        for aggregate_id in self.streams_started(missing):
            out[aggregate_id] = self.load(cls, aggregate_id)
        return out

    def heads(self, rows: Sequence[SnapshotRow], *, verify: bool = True) -> list[Head]:
        """Each row with the events recorded after its version (normally none: every write path writes
        the snapshot with the events; anything else is caught up here).

        ``verify=False`` trusts the snapshots without looking: only for a write path, whose first stale
        row would make its insert collide on (id, version) and whose retry then verifies."""
        if not verify:
            return [Head(row) for row in rows]
        newer: dict[uuid.UUID, list[tuple[int, str, bytes]]] = {}
        for i in range(0, len(rows), CHUNK_IDS_MAX):
            for aggregate_id, version, topic, state in self._select_newer(rows[i : i + CHUNK_IDS_MAX]):
                newer.setdefault(aggregate_id, []).append((version, topic, state))
        if not newer:
            return [Head(row) for row in rows]
        heads = []
        for row in rows:
            events = sorted(newer.get(row.aggregate_id, ()))
            assert [v for v, _, _ in events] == list(range(row.version + 1, row.version + 1 + len(events)))
            heads.append(Head(row, tuple((t, s) for _, t, s in events)))
        return heads

    def snapshots(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, SnapshotRow]:
        out: dict[uuid.UUID, SnapshotRow] = {}
        for i in range(0, len(ids), CHUNK_IDS_MAX):
            for row in self._select_snapshots(ids[i : i + CHUNK_IDS_MAX]):
                out[row.aggregate_id] = row
        return out

    def streams_started(self, ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        """Which of ``ids`` have at least one event."""
        out: set[uuid.UUID] = set()
        for i in range(0, len(ids), CHUNK_IDS_MAX):
            out.update(self._select_started(ids[i : i + CHUNK_IDS_MAX]))
        return out

    @abc.abstractmethod
    def _select_snapshots(self, ids: Sequence[uuid.UUID]) -> Iterable[SnapshotRow]: ...

    @abc.abstractmethod
    def _select_newer(self, rows: Sequence[SnapshotRow]) -> Iterable[tuple[uuid.UUID, int, str, bytes]]: ...

    @abc.abstractmethod
    def _select_started(self, ids: Sequence[uuid.UUID]) -> Iterable[uuid.UUID]: ...

    @abc.abstractmethod
    def snapshots_of_kind(self, kind: str, cohort: str | None = None) -> Iterator[SnapshotRow]:
        """Every snapshot of a kind (optionally of one cohort), ordered by aggregate id."""

    @abc.abstractmethod
    def members_to_sweep(self, cohorts: Sequence[str], due_by: str) -> Iterator[SnapshotRow]:
        """Members of the given cohorts, or with an arrears lapse due by ``due_by``, or with claims."""

    def select_notifications(self, start: int, limit: int) -> Sequence[Notification]:
        return self.recorder.select_notifications(start=start, limit=limit)  # type: ignore[no-any-return]

    def read_log(self, after: int, limit: int, until: int | None = None) -> list[LogRow]:
        """Up to ``limit`` events after position ``after`` (and not after ``until``), in order, as plain
        tuples ``(position, aggregate id as text, version, topic, canonical state)``: the lean path the
        projections and the relay read (no per-row objects beyond the tuple)."""
        assert 0 < limit <= READ_LIMIT_MAX, limit
        rows = []
        for n in self.recorder.select_notifications(start=after + 1, limit=limit, stop=until):
            rows.append((n.id, str(n.originator_id), n.originator_version, n.topic, self._plain(n.state)))
        return rows

    def _plain(self, state: bytes | str) -> bytes:
        raw = state if isinstance(state, bytes) else str(state).encode()  # a tampered row may hold TEXT
        return self.mapper.plain_state(raw)

    def max_notification_id(self) -> int:
        return int(self.recorder.max_notification_id() or 0)

    # --- the audit chain (read raw: stored bytes, never decoded) ----------------------------------

    @abc.abstractmethod
    def raw_events(self, after: int, limit: int) -> list[RawEvent]:
        """Up to ``limit`` events after position ``after``, as stored bytes."""

    def raw_event(self, position: int) -> RawEvent | None:
        found = self.raw_events(position - 1, 1)
        return found[0] if found and found[0][0] == position else None

    @abc.abstractmethod
    def chain_rows(self, after_batch: int, limit: int, *, leaves: bool = True) -> list[ChainRow]:
        """Chain rows after ``after_batch``, in batch order (``leaves=False``: without their leaves)."""

    @abc.abstractmethod
    def chain_row_at(self, position: int) -> ChainRow | None:
        """The chain row whose range holds ``position``."""

    @abc.abstractmethod
    def chain_head(self) -> ChainRow | None:
        """The last chain row (without its leaves)."""

    @abc.abstractmethod
    def chain_batch_of(self, digest: bytes) -> int | None:
        """The batch whose hash is ``digest``."""

    def on_close(self, hook: Callable[[], None]) -> None:
        """Run ``hook`` when the store closes (what is opened beside it, such as its views' engine, closes with it:
        no pooled connection outlives the store)."""
        self._close_hooks.append(hook)

    def close(self) -> None:
        while self._close_hooks:
            self._close_hooks.pop()()
        self.app.close()



def open_store(url: str | None = None) -> LedgerStore:
    settings = StoreSettings.from_url(url)
    if settings.sqlite_path is not None:
        private_file(settings.sqlite_path)  # 0600 (its -wal and -shm follow): docs/rules.md#file-modes
    if settings.kind == "memory":
        from eventstore.store_memory import MemoryStore

        return MemoryStore(settings)
    if settings.kind == "sqlite":
        from eventstore.store_sql import SQLiteStore

        return SQLiteStore(settings)
    from eventstore.store_postgres import PostgresStore

    return PostgresStore(settings)


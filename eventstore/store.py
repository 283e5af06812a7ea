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
import hashlib
import itertools
import threading
import uuid
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, TypeVar

from eventsourcing.application import Application
from eventsourcing.persistence import IntegrityError, Notification, StoredEvent
from eventsourcing.utils import get_topic

from eventstore.chain import CHAIN_TABLE, KIND_WRITE, ChainError, ChainRow, RawEvent, next_row, write_leaves
from eventstore.chain_store import SqlChain, chain_now
from eventstore.files import private_file
from eventstore.mapper import JsonBytesTranscoder, PydanticMapper, decode_state
from eventstore.settings import APPLICATION_NAME, StoreSettings
from ledger.aggregate import Aggregate
from ledger.errors import ConcurrencyConflict
from ledger.events import LedgerEvent
from ledger.member import Member

A = TypeVar("A", bound=Aggregate[Any])

SNAPSHOT_TABLE = "jamsos_snapshots"
STATE_TABLE = "jamsos_snapshot_states"
SCHEMA_LOCK_KEY = 0x4A414D534F53  # "JAMSOS": advisory lock held while creating tables
CHUNK_IDS_MAX = 500
"""Ids per IN (...) query: well under SQLite's variable limit."""
SNAPSHOT_COMPRESSION_LEVEL = 1
"""zlib level for snapshot state: JSON shrinks several times for a few microseconds."""
STATE_HASH_BYTES = 16
CHAINED_APPLICATION_ID = 0x4A4D5343  # "JMSC" in the SQLite file header: this store's events are chained
CHAINED_COMMENT = "jamsos: every event is linked into jamsos_chain"

EventRow = tuple[uuid.UUID, int, str, bytes]
"""(originator id, version, topic, state): a stored event as the bulk paths build it."""
LogRow = tuple[int, str, int, str, bytes]
"""One event as the log reader sees it: position, aggregate id (canonical text), version, topic, state."""
READ_LIMIT_MAX = 1_000_000
"""Most rows one ``read_log`` call returns (its page lives in memory)."""

SnapshotParams = tuple[uuid.UUID, str, int, "str | None", "str | None", int, bytes]
"""(aggregate id, kind, version, cohort, due_on, has_claims, state hash): one snapshot row to upsert."""


@dataclass(frozen=True, slots=True)
class SnapshotRow:
    """An aggregate's state at ``version``, with the index columns the bulk paths query by.

    ``cohort``: for a member, the agreement funding its open chain ("SELF"), None when closed.
    ``due_on``: for a member, the ISO date an arrears lapse falls due. ``has_claims``: 1 if any claim.
    ``state``: zlib-compressed JSON of the state; ``state_hash`` its BLAKE2b digest.
    """

    aggregate_id: uuid.UUID
    kind: str
    version: int
    cohort: str | None
    due_on: str | None
    has_claims: int
    state_hash: bytes
    state: bytes

    def aggregate(self, cls: type[A]) -> A:
        """The aggregate this row snapshots."""
        return cls.from_snapshot(self.aggregate_id, self.version, zlib.decompress(self.state))

    def params_for(self, aggregate_id: uuid.UUID, version: int) -> SnapshotParams:
        """The upsert parameters of this state for an aggregate in the same situation."""
        return (aggregate_id, self.kind, version, self.cohort, self.due_on, self.has_claims, self.state_hash)


def event_rows(stored: Iterable[StoredEvent]) -> list[EventRow]:
    """Stored events as the rows :meth:`LedgerStore.write_rows` takes."""
    return [(uuid.UUID(str(s.originator_id)) if not isinstance(s.originator_id, uuid.UUID) else s.originator_id,
             s.originator_version, s.topic, s.state) for s in stored]


def snapshot_row(agg: Aggregate[Any]) -> SnapshotRow:
    cohort = due_on = None
    has_claims = 0
    if isinstance(agg, Member):
        cohort = agg.cohort
        due = agg.arrears_lapse_on()
        due_on = due.isoformat() if due else None
        has_claims = int(bool(agg.state.claims))
    state = zlib.compress(agg.snapshot(), SNAPSHOT_COMPRESSION_LEVEL)
    digest = hashlib.blake2b(state, digest_size=STATE_HASH_BYTES).digest()
    return SnapshotRow(agg.id, type(agg).__name__, agg.version, cohort, due_on, has_claims, digest, state)


@dataclass(frozen=True, slots=True)
class PreparedWrite:
    """What one :meth:`LedgerStore.save` writes, built before any database is touched: its events (in order),
    the snapshot rows of the aggregates they change, and the snapshot states those rows point at."""

    events: list[EventRow]
    snapshots: list[SnapshotParams]
    states: dict[bytes, bytes]


@dataclass(frozen=True, slots=True)
class Head:
    """An aggregate's current state as stored: its snapshot plus the events recorded after it.

    Two heads with equal ``key`` describe aggregates in exactly the same state (neither snapshot state
    nor event state holds the aggregate id), which lets the bulk paths decide once per distinct state.
    """

    row: SnapshotRow
    newer: tuple[tuple[str, bytes], ...] = ()

    @property
    def aggregate_id(self) -> uuid.UUID:
        return self.row.aggregate_id

    @property
    def version(self) -> int:
        return self.row.version + len(self.newer)

    @property
    def key(self) -> tuple[bytes, tuple[tuple[str, bytes], ...]]:
        return (self.row.state_hash, self.newer)

    def aggregate(self, cls: type[A], mapper: PydanticMapper) -> A:
        agg = self.row.aggregate(cls)
        for version, (topic, state) in enumerate(self.newer, start=self.row.version + 1):
            agg.mutate(decode_state(topic, self.aggregate_id, version, mapper.plain_state(state)))
        return agg


Matters = Callable[[str, str, bytes], bool]
"""(aggregate id as canonical text, topic, canonical JSON state) → whether that event could change a decision."""


def topic_of(event_type: type[LedgerEvent]) -> str:
    """The topic an event of this type is stored under (``module:Class``)."""
    return get_topic(event_type)


@dataclass(frozen=True, slots=True)
class LogGuard:
    """A write's precondition on the log: no event of ``event_types`` (and, with ``matters``, none of those
    for which ``matters`` is true) was written after ``position``.

    A command that decided on read models caught up to ``position`` (the log position they stood at then)
    passes this to :meth:`LedgerStore.save`; an event that could change its decision and was written in
    between makes the save raise :class:`ConcurrencyConflict`, so the command re-decides on fresh data.
    ``matters`` runs inside the write's transaction, on the events of ``event_types`` in that window only:
    it must be quick and pure. ``what`` names the decision in the error."""

    position: int
    event_types: tuple[type[LedgerEvent], ...]
    what: str
    matters: Matters | None = None

    @property
    def topics(self) -> list[str]:
        """The stored topics (``module:Class``) of ``event_types``."""
        return sorted({topic_of(t) for t in self.event_types})

    def first_breach(self, rows: Iterable[tuple[int, str, str, bytes]]) -> int | None:
        """The position of the first of ``rows`` (position, aggregate id, topic, plain state; of the guard's
        topics, after its position, in order) that could change the decision."""
        matters = self.matters
        for position, aggregate_id, topic, state in rows:
            if matters is None or matters(aggregate_id, topic, state):
                return position
        return None

    def conflict(self, position: int) -> ConcurrencyConflict:
        return ConcurrencyConflict("log", f"{self.what}: an event that could change it was written at position "
                                          f"{position}, after the read models it was decided on "
                                          f"({self.position}); retry to re-decide")


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
        snapshots = [snapshot_row(a) for a in touched]
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
        return self.mapper.plain_state(raw) if self.mapper.cipher or self.mapper.compressor else raw

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


class MemoryStore(LedgerStore):
    """In-memory adapter (the library's POPO recorder) for fast unit tests."""

    def _create_snapshot_tables(self) -> None:
        self._snapshots: dict[uuid.UUID, tuple[SnapshotRow, bytes]] = {}
        self._states: dict[bytes, bytes] = {}
        self._lock: threading.RLock = self.recorder._database_lock
        self._chain: list[ChainRow] = []

    def _create_chain(self) -> None:
        """A memory store starts empty: nothing to upgrade."""

    def _write(
        self, events: Sequence[EventRow], snapshots: Sequence[SnapshotParams], states: list[tuple[bytes, bytes]],
        guard: LogGuard | None,
    ) -> int:
        stored = [StoredEvent(originator_id=i, originator_version=v, topic=t, state=s) for i, v, t, s in events]
        with self._lock:
            if guard is not None:  # under the lock every writer takes: nothing can be appended meanwhile
                topics = set(guard.topics)
                after = self.recorder._stored_events[guard.position:]
                found = guard.first_breach((p, str(s.originator_id), s.topic, self._plain(s.state))
                                           for p, s in enumerate(after, guard.position + 1) if s.topic in topics)
                if found is not None:
                    raise guard.conflict(found)
            head = self._chain[-1] if self._chain else None
            first = len(self.recorder._stored_events) + 1
            leaves = write_leaves(first, events)  # before the insert: a failing hash leaves nothing half-written
            link = next_row((head.batch, head.hash) if head else None, first, leaves, KIND_WRITE, chain_now())
            positions = self.recorder._insert_events(stored)  # checks uniqueness before changing anything
            if positions != list(range(first, first + len(events))):  # pragma: no cover - the recorder appends
                raise ChainError(f"chain: positions {positions[:3]}... are not {first}...")
            self._chain.append(link)
            self._states.update(states)
            for aggregate_id, kind, version, cohort, due_on, has_claims, digest in snapshots:
                old = self._snapshots.get(aggregate_id)
                if old is None or version > old[0].version:
                    row = SnapshotRow(aggregate_id, kind, version, cohort, due_on, has_claims, digest,
                                      self._states[digest])
                    self._snapshots[aggregate_id] = (row, digest)
        return first

    def raw_events(self, after: int, limit: int) -> list[RawEvent]:
        with self._lock:
            found = self.recorder._stored_events[after : after + limit]
        out: list[RawEvent] = []
        for position, s in enumerate(found, start=after + 1):
            i = s.originator_id
            out.append((position, (i.hex if isinstance(i, uuid.UUID) else str(i)).encode(),
                        b"%d" % s.originator_version, s.topic.encode(), s.state))
        return out

    def chain_rows(self, after_batch: int, limit: int, *, leaves: bool = True) -> list[ChainRow]:
        with self._lock:
            return self._chain[after_batch : after_batch + limit]

    def chain_row_at(self, position: int) -> ChainRow | None:
        with self._lock:
            return next((r for r in self._chain if r.first_position <= position <= r.last_position), None)

    def chain_head(self) -> ChainRow | None:
        with self._lock:
            return self._chain[-1] if self._chain else None

    def chain_batch_of(self, digest: bytes) -> int | None:
        with self._lock:
            return next((r.batch for r in self._chain if r.hash == digest), None)

    def collect_unused_states(self) -> int:
        with self._lock:
            used = {h for _, h in self._snapshots.values()}
            unused = [h for h in self._states if h not in used]
            for h in unused:
                del self._states[h]
        return len(unused)

    def _select_snapshots(self, ids: Sequence[uuid.UUID]) -> Iterable[SnapshotRow]:
        with self._lock:
            return [self._snapshots[i][0] for i in ids if i in self._snapshots]

    def _select_newer(self, rows: Sequence[SnapshotRow]) -> Iterable[tuple[uuid.UUID, int, str, bytes]]:
        out = []
        for row in rows:
            for s in self.recorder.select_events(row.aggregate_id, gt=row.version):
                out.append((row.aggregate_id, s.originator_version, s.topic, s.state))
        return out

    def _select_started(self, ids: Sequence[uuid.UUID]) -> Iterable[uuid.UUID]:
        return [i for i in ids if self.recorder.select_events(i, limit=1)]

    def _matching(self, test: Any) -> Iterator[SnapshotRow]:
        with self._lock:
            rows = [r for r, _ in self._snapshots.values() if test(r)]
        yield from sorted(rows, key=lambda r: r.aggregate_id.hex)

    def snapshots_of_kind(self, kind: str, cohort: str | None = None) -> Iterator[SnapshotRow]:
        return self._matching(lambda r: r.kind == kind and (cohort is None or r.cohort == cohort))

    def members_to_sweep(self, cohorts: Sequence[str], due_by: str) -> Iterator[SnapshotRow]:
        wanted = set(cohorts)
        return self._matching(
            lambda r: r.kind == "Member"
            and (r.cohort in wanted or (r.due_on is not None and r.due_on <= due_by) or r.has_claims)
        )


class SqlStore(SqlChain, LedgerStore):
    """What SQLite and PostgreSQL share: the snapshot tables, their queries and the write transaction.

    Subclasses say how to open a transaction on the library's datastore, how ids are stored, the
    placeholder style, and how to insert the events through the library's recorder.
    """

    placeholder = "?"
    position_column = "rowid"
    id_text = "originator_id"
    blob_type = "BLOB"
    without_rowid = ""
    id_type = "TEXT"
    events_table = "stored_events"

    def _tx(self, commit: bool) -> AbstractContextManager[Any]:
        return self.recorder.datastore.transaction(commit=commit)  # type: ignore[no-any-return]

    @abc.abstractmethod
    def _db_id(self, aggregate_id: uuid.UUID) -> Any: ...

    @abc.abstractmethod
    def _py_id(self, value: Any) -> uuid.UUID: ...

    @abc.abstractmethod
    def _insert_events(self, cursor: Any, events: Sequence[EventRow]) -> tuple[int, Sequence[EventRow]]:
        """Insert the events; return the first position they got and the events in position order, having
        checked that they hold exactly the positions first, first + 1, ... (one per event, no hole)."""

    @abc.abstractmethod
    def _in(self, column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
        """SQL for ``column IN values`` and its parameters."""

    @property
    def _snapshots_t(self) -> str:
        return SNAPSHOT_TABLE

    @property
    def _states_t(self) -> str:
        return STATE_TABLE

    @property
    def _events_t(self) -> str:
        return self.events_table

    def _create_snapshot_tables(self) -> None:
        blob = self.blob_type
        with self._tx(commit=True) as c:
            c.execute(
                f"CREATE TABLE IF NOT EXISTS {self._states_t} (state_hash {blob} PRIMARY KEY, state {blob} NOT NULL)"
                f"{self.without_rowid}"
            )
            c.execute(
                f"CREATE TABLE IF NOT EXISTS {self._snapshots_t} (aggregate_id {self.id_type} PRIMARY KEY, "
                "kind TEXT NOT NULL, version BIGINT NOT NULL, cohort TEXT, due_on TEXT, has_claims INTEGER NOT NULL, "
                f"state_hash {blob} NOT NULL){self.without_rowid}"
            )
            c.execute(f"CREATE INDEX IF NOT EXISTS {SNAPSHOT_TABLE}_kind ON {self._snapshots_t} (kind, cohort)")
            c.execute(f"CREATE INDEX IF NOT EXISTS {SNAPSHOT_TABLE}_due ON {self._snapshots_t} (due_on)")

    def _write(
        self, events: Sequence[EventRow], snapshots: Sequence[SnapshotParams], states: list[tuple[bytes, bytes]],
        guard: LogGuard | None,
    ) -> int:
        p = self.placeholder
        db_id = self._db_id
        with self._tx(commit=True) as c:
            self._plain_cursor(c)
            first, ordered = self._insert_events(c, events)
            if guard is not None:
                self._check_guard(c, guard, first)
            self._link(c, first, ordered)
            if states:
                c.executemany(
                    f"INSERT INTO {self._states_t} VALUES ({p},{p}) ON CONFLICT (state_hash) DO NOTHING", states
                )
            if snapshots:
                c.executemany(
                    f"INSERT INTO {self._snapshots_t} VALUES ({p},{p},{p},{p},{p},{p},{p}) "
                    "ON CONFLICT (aggregate_id) DO UPDATE SET kind=excluded.kind, version=excluded.version, "
                    "cohort=excluded.cohort, due_on=excluded.due_on, has_claims=excluded.has_claims, "
                    f"state_hash=excluded.state_hash WHERE excluded.version > {SNAPSHOT_TABLE}.version",
                    [(db_id(i), kind, v, cohort, due, claims, h) for i, kind, v, cohort, due, claims, h in snapshots],
                )
        return first

    def _check_guard(self, cursor: Any, guard: LogGuard, first: int) -> None:
        """Inside the write's transaction, after its events were inserted (so it holds the events table's
        write lock: PostgreSQL's ``LOCK TABLE ... IN EXCLUSIVE MODE`` that the insert takes, SQLite's single
        writer lock): raise if an event of the guard's types lies between the guard's position and this write's
        first one. Every event below ``first`` is committed and visible by then (each writer commits before it
        lets go of the lock, and PostgreSQL's READ COMMITTED gives each statement a fresh snapshot), and none can
        be added until this transaction ends: the check and the write are one atomic step."""
        p, pos = self.placeholder, self.position_column
        clause, params = self._in("topic", guard.topics)
        columns = f"{pos}, {self.id_text}, topic, state" if guard.matters else f"{pos}, '', topic, NULL"
        cursor.execute(f"SELECT {columns} FROM {self._events_t} WHERE {pos} > {p} AND {pos} < {p} AND {clause} "
                       f"ORDER BY {pos}{'' if guard.matters else ' LIMIT 1'}", [guard.position, first, *params])
        plain = self._plain
        found = guard.first_breach((int(r[0]), r[1], r[2], plain(r[3]) if r[3] is not None else b"")
                                   for r in cursor.fetchall())
        if found is not None:
            raise guard.conflict(found)

    def collect_unused_states(self) -> int:
        with self._tx(commit=True) as c:
            c.execute(
                f"DELETE FROM {self._states_t} WHERE state_hash NOT IN (SELECT state_hash FROM {self._snapshots_t})"
            )
            return self._deleted(c)

    def _deleted(self, cursor: Any) -> int:
        return int(cursor.rowcount or 0)

    def _read(self, sql: str, params: Sequence[Any]) -> list[Any]:
        """Rows as tuples (positional access is the cheap one on both drivers)."""
        with self._tx(commit=False) as c:
            self._tuple_rows(c)
            c.execute(sql, params)
            return list(c.fetchall())

    def _tuple_rows(self, cursor: Any) -> None:
        """SQLite's rows index by position already."""

    def read_log(self, after: int, limit: int, until: int | None = None) -> list[LogRow]:
        assert 0 < limit <= READ_LIMIT_MAX, limit
        p = self.placeholder
        stop = f" AND {self.position_column} <= {p}" if until is not None else ""
        params = [after, until, limit] if until is not None else [after, limit]
        sql = (f"SELECT {self.position_column}, {self.id_text}, originator_version, topic, state "
               f"FROM {self._events_t} WHERE {self.position_column} > {p}{stop} "
               f"ORDER BY {self.position_column} LIMIT {p}")
        with self._tx(commit=False) as c:
            self._plain_rows(c)
            c.execute(sql, params)
            fetched: list[LogRow] = c.fetchall()
        if self.mapper.cipher or self.mapper.compressor or any(type(r[4]) is not bytes for r in fetched):
            plain = self._plain
            return [(position, i, v, topic, plain(state)) for position, i, v, topic, state in fetched]
        return fetched

    def _plain_rows(self, cursor: Any) -> None:
        self._tuple_rows(cursor)

    def _plain_cursor(self, cursor: Any) -> None:
        self._plain_rows(cursor)

    def _rows(self, where: str, params: list[Any]) -> list[SnapshotRow]:
        found = self._read(
            "SELECT s.aggregate_id, s.kind, s.version, s.cohort, s.due_on, s.has_claims, s.state_hash "
            f"FROM {self._snapshots_t} s WHERE {where} ORDER BY s.aggregate_id",
            params,
        )
        digests: dict[bytes, bytes] = {}
        for r in found:
            digests.setdefault(bytes(r[6]), b"")
        wanted = list(digests)
        for i in range(0, len(wanted), CHUNK_IDS_MAX):
            clause, values = self._in("state_hash", wanted[i : i + CHUNK_IDS_MAX])
            for digest, state in self._read(f"SELECT state_hash, state FROM {self._states_t} WHERE {clause}", values):
                digests[bytes(digest)] = bytes(state)
        py_id = self._py_id
        out = []
        for r in found:
            digest = bytes(r[6])
            out.append(SnapshotRow(py_id(r[0]), r[1], r[2], r[3], r[4], r[5], digest, digests[digest]))
        return out

    def _select_snapshots(self, ids: Sequence[uuid.UUID]) -> Iterable[SnapshotRow]:
        clause, params = self._in("s.aggregate_id", [self._db_id(i) for i in ids])
        return self._rows(clause, params)

    def snapshots_of_kind(self, kind: str, cohort: str | None = None) -> Iterator[SnapshotRow]:
        p = self.placeholder
        if cohort is None:
            return iter(self._rows(f"s.kind = {p}", [kind]))
        return iter(self._rows(f"s.kind = {p} AND s.cohort = {p}", [kind, cohort]))

    def members_to_sweep(self, cohorts: Sequence[str], due_by: str) -> Iterator[SnapshotRow]:
        p = self.placeholder
        clause, params = self._in("s.cohort", list(cohorts))
        return iter(self._rows(f"s.kind = 'Member' AND ({clause} OR s.due_on <= {p} OR s.has_claims = 1)",
                               [*params, due_by]))

    def _select_started(self, ids: Sequence[uuid.UUID]) -> Iterable[uuid.UUID]:
        clause, params = self._in("originator_id", [self._db_id(i) for i in ids])
        with self._tx(commit=False) as c:
            c.execute(f"SELECT originator_id FROM {self._events_t} WHERE originator_version = 1 AND {clause}", params)
            return [self._py_id(r["originator_id"]) for r in c.fetchall()]


class SQLiteStore(SqlStore):
    """The embedded default: one SQLite file (WAL, synchronous=FULL as the library sets it)."""

    without_rowid = " WITHOUT ROWID"
    position_column = "rowid"
    id_text = ("CASE WHEN length(originator_id) = 32 THEN substr(originator_id, 1, 8) || '-' || "
               "substr(originator_id, 9, 4) || '-' || substr(originator_id, 13, 4) || '-' || "
               "substr(originator_id, 17, 4) || '-' || substr(originator_id, 21) ELSE originator_id END")
    """SQLite holds 32 hex digits; the canonical 8-4-4-4-12 text (what ``str(UUID)`` gives) is cut in SQL
    (anything else, e.g. a row written by other means, passes through unchanged)."""

    def _plain_rows(self, cursor: Any) -> None:
        # plain tuples: the library's connections default to sqlite3.Row (and hand out a wrapper of the cursor)
        getattr(cursor, "sqlite_cursor", cursor).row_factory = None


    def _db_id(self, aggregate_id: uuid.UUID) -> Any:
        return aggregate_id.hex

    def _py_id(self, value: Any) -> uuid.UUID:
        return uuid.UUID(value)

    def _in(self, column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
        if not values:
            return "0", []
        return f"{column} IN ({','.join('?' * len(values))})", list(values)

    def _deleted(self, cursor: Any) -> int:
        cursor.execute("SELECT changes()")
        return int(cursor.fetchone()[0])

    def _insert_events(self, cursor: Any, events: Sequence[EventRow]) -> tuple[int, Sequence[EventRow]]:
        # one executemany: the library's own SQLite recorder inserts row by row to collect rowids
        cursor.executemany(self.recorder.insert_events_statement, [(i.hex, v, t, s) for i, v, t, s in events])
        # each new rowid is above every rowid before it, so the n events hold last-n+1..last exactly if
        # that range holds n rows
        cursor.execute("SELECT last_insert_rowid()")
        last = int(cursor.fetchone()[0])
        first = last - len(events) + 1
        cursor.execute("SELECT count(*) FROM stored_events WHERE rowid BETWEEN ? AND ?", [first, last])
        if cursor.fetchone()[0] != len(events):
            raise ChainError(f"chain: the {len(events)} events written are not at positions {first}..{last}")
        return first, events

    # --- the chain (see eventstore.chain_store) ---------------------------------------------------

    batch_type = "INTEGER"  # the rowid itself: never NULL (a non-INTEGER primary key may be, in SQLite)

    def _chain_table_exists(self, cursor: Any) -> bool:
        cursor.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", [CHAIN_TABLE])
        return cursor.fetchone() is not None

    def _lock_events(self, cursor: Any) -> None:
        cursor.execute("DELETE FROM stored_events WHERE 0")  # a write statement: takes the write lock now

    def _chained_marker(self, cursor: Any) -> bool:
        cursor.execute("PRAGMA application_id")
        return int(cursor.fetchone()[0]) == CHAINED_APPLICATION_ID

    def _set_chained_marker(self, cursor: Any) -> None:
        cursor.execute(f"PRAGMA application_id = {CHAINED_APPLICATION_ID}")

    def _raw_columns(self) -> str:
        return ("rowid, CAST(originator_id AS BLOB), CAST(originator_version AS BLOB), CAST(topic AS BLOB), "
                "CAST(state AS BLOB)")

    def _raw_row(self, row: Sequence[Any]) -> RawEvent:
        return (row[0], row[1], row[2], row[3], row[4])

    def _chain_columns(self, leaves: bool) -> str:
        return ("batch, CAST(first_position AS INTEGER), CAST(last_position AS INTEGER), "
                "CAST(event_count AS INTEGER), CAST(kind AS BLOB), CAST(recorded_at AS BLOB), "
                f"{'CAST(leaves AS BLOB)' if leaves else 'NULL'}, CAST(root AS BLOB), CAST(previous AS BLOB), "
                "CAST(hash AS BLOB)")

    def _select_newer(self, rows: Sequence[SnapshotRow]) -> Iterable[tuple[uuid.UUID, int, str, bytes]]:
        values = ",".join("(?,?)" for _ in rows)
        params: list[Any] = []
        for row in rows:
            params += [row.aggregate_id.hex, row.version]
        sql = (
            f"WITH s(id, v) AS (VALUES {values}) SELECT e.originator_id, e.originator_version, e.topic, e.state "
            "FROM s JOIN stored_events e ON e.originator_id = s.id AND e.originator_version > s.v"
        )
        with self._tx(commit=False) as c:
            c.execute(sql, params)
            found = c.fetchall()
        return [(uuid.UUID(r["originator_id"]), r["originator_version"], r["topic"], bytes(r["state"])) for r in found]


class PostgresStore(SqlStore):
    """Production adapter: the library's PostgreSQL recorder (EXCLUSIVE table lock per write)."""

    placeholder = "%s"
    blob_type = "BYTEA"
    id_type = "UUID"
    position_column = "notification_id"
    id_text = "originator_id::text"

    def __init__(self, settings: StoreSettings) -> None:
        import psycopg

        # Processes starting together would race on CREATE TABLE / CREATE FUNCTION ("tuple concurrently
        # updated"): one session-level advisory lock serialises the schema set-up.
        with psycopg.connect(
            dbname=settings.pg_dbname, host=settings.pg_host, port=settings.pg_port, user=settings.pg_user,
            password=settings.pg_password or None, autocommit=True, connect_timeout=10,
        ) as conn:
            conn.execute("SELECT pg_advisory_lock(%s)", [SCHEMA_LOCK_KEY])
            try:
                if settings.pg_schema:
                    conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{settings.pg_schema}"')
                super().__init__(settings)
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", [SCHEMA_LOCK_KEY])

    @property
    def _schema(self) -> str:
        return f'"{self.recorder.datastore.schema or "public"}"'

    @property
    def _insert_returning(self) -> Any:
        from psycopg.sql import SQL

        # the library's statement ends "RETURNING notification_id"
        return self.recorder.insert_events_statement + SQL(", originator_id, originator_version")

    @property
    def _snapshots_t(self) -> str:
        return f"{self._schema}.{SNAPSHOT_TABLE}"

    @property
    def _states_t(self) -> str:
        return f"{self._schema}.{STATE_TABLE}"

    @property
    def _events_t(self) -> str:
        return f"{self._schema}.{self.recorder.events_table_name}"

    def _tuple_rows(self, cursor: Any) -> None:
        from psycopg.rows import tuple_row

        cursor.row_factory = tuple_row

    def _db_id(self, aggregate_id: uuid.UUID) -> Any:
        return aggregate_id

    def _py_id(self, value: Any) -> uuid.UUID:
        return value  # type: ignore[no-any-return]

    def _in(self, column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
        return f"{column} = ANY(%s)", [list(values)]

    def _insert_events(self, cursor: Any, events: Sequence[EventRow]) -> tuple[int, Sequence[EventRow]]:
        # what the library's ``_insert_stored_events`` does (lock the table, notify, insert via unnest),
        # returning each row's identity with its notification id
        recorder = self.recorder
        recorder._lock_table(cursor)
        recorder._notify_channel(cursor)
        rows = [recorder.construct_pg_stored_event(i, v, t, s) for i, v, t, s in events]
        cursor.execute(self._insert_returning, (rows,))
        returned = cursor.fetchall()
        n = len(events)
        ordered: Sequence[EventRow] = events
        if len(returned) != n:
            raise ChainError(f"chain: {len(returned)} notification ids for {n} events")
        if any(r[1] != e[0] or r[2] != e[1] for r, e in zip(returned, events, strict=True)):
            by_key = {(e[0], e[1]): e for e in events}  # RETURNING in another order than the input's
            returned = sorted(returned)
            ordered = [by_key[(r[1], r[2])] for r in returned]
        first = returned[0][0]
        if returned[-1][0] - first != n - 1 or any(b[0] <= a[0] for a, b in itertools.pairwise(returned)):
            raise ChainError(f"chain: the {n} events written hold positions {first}..{returned[-1][0]}, "
                             "not one each without a hole (the events table lock should make them so)")
        return first, ordered

    # --- the chain (see eventstore.chain_store) ---------------------------------------------------

    @property
    def _chain_t(self) -> str:
        return f"{self._schema}.{CHAIN_TABLE}"

    def _chain_table_exists(self, cursor: Any) -> bool:
        cursor.execute("SELECT to_regclass(%s)", [self._chain_t])
        return cursor.fetchone()[0] is not None

    def _lock_events(self, cursor: Any) -> None:
        self.recorder._lock_table(cursor)

    def _chained_marker(self, cursor: Any) -> bool:
        cursor.execute("SELECT obj_description(to_regclass(%s), 'pg_class')", [self._events_t])
        return bool(cursor.fetchone()[0] == CHAINED_COMMENT)

    def _set_chained_marker(self, cursor: Any) -> None:
        cursor.execute(f"COMMENT ON TABLE {self._events_t} IS '{CHAINED_COMMENT}'")

    def _chain_extra_ddl(self) -> list[str]:
        # random hashes do not compress: store the leaves out of line without trying
        return [f"ALTER TABLE {self._chain_t} ALTER COLUMN leaves SET STORAGE EXTERNAL"]

    def _raw_columns(self) -> str:
        return "notification_id, replace(originator_id::text, '-', ''), originator_version, topic, state"

    def _raw_row(self, row: Sequence[Any]) -> RawEvent:
        return (row[0], row[1].encode(), b"%d" % row[2], None if row[3] is None else row[3].encode(),
                None if row[4] is None else bytes(row[4]))

    def _chain_columns(self, leaves: bool) -> str:
        return ("batch, first_position, last_position, event_count, kind, recorded_at, "
                f"{'leaves' if leaves else 'NULL'}, root, previous, hash")

    def _select_newer(self, rows: Sequence[SnapshotRow]) -> Iterable[tuple[uuid.UUID, int, str, bytes]]:
        sql = (
            "SELECT e.originator_id, e.originator_version, e.topic, e.state "
            "FROM unnest(%s::uuid[], %s::bigint[]) AS s(id, v) "
            f"JOIN {self._events_t} e ON e.originator_id = s.id AND e.originator_version > s.v"
        )
        with self._tx(commit=False) as c:
            c.execute(sql, [[r.aggregate_id for r in rows], [r.version for r in rows]])
            found = c.fetchall()
        return [(r["originator_id"], r["originator_version"], r["topic"], bytes(r["state"])) for r in found]


def open_store(url: str | None = None) -> LedgerStore:
    settings = StoreSettings.from_url(url)
    if settings.sqlite_path is not None:
        private_file(settings.sqlite_path)  # 0600 (its -wal and -shm follow): docs/rules.md#file-modes
    adapters: dict[str, Callable[[StoreSettings], LedgerStore]] = {
        "memory": MemoryStore, "sqlite": SQLiteStore, "postgres": PostgresStore
    }
    return adapters[settings.kind](settings)

"""The event store port and its three adapters (memory, SQLite, PostgreSQL) over eventsourcing 9.5.

What the library gives: the recorders (tables, optimistic concurrency on (originator_id, version),
notification ids, readers), the environment-driven factory, the optional app-wide cipher/compressor.
What this module adds: one transaction that writes the events **and** each aggregate's snapshot row,
so the bulk paths and sweeps read current state in one query instead of replaying every stream.

Invariants:
- ``save``/``write`` are all-or-nothing: events and snapshots commit together or not at all.
- A losing concurrent writer gets :class:`ledger.errors.ConcurrencyConflict`; nothing of it is written.
- A snapshot row is a cache: ``load`` replays any events newer than it, so it can never hide one.
"""

from __future__ import annotations

import abc
import threading
import uuid
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from eventsourcing.application import Application
from eventsourcing.persistence import IntegrityError, Notification, StoredEvent
from eventsourcing.utils import get_topic

from eventstore.mapper import JsonBytesTranscoder, PydanticMapper
from eventstore.settings import APPLICATION_NAME, StoreSettings
from ledger.aggregate import Aggregate
from ledger.errors import ConcurrencyConflict
from ledger.events import LedgerEvent
from ledger.member import Member

A = TypeVar("A", bound=Aggregate[Any])

SNAPSHOT_TABLE = "jamsos_snapshots"
SCHEMA_LOCK_KEY = 0x4A414D534F53  # "JAMSOS": advisory lock held while creating tables
CHUNK_IDS_MAX = 500
_UPSERT_SET = (
    "kind=excluded.kind, version=excluded.version, cohort=excluded.cohort, due_on=excluded.due_on, "
    "has_claims=excluded.has_claims, state=excluded.state"
)
"""Ids per IN (...) query: well under SQLite's variable limit."""


@dataclass(frozen=True, slots=True)
class SnapshotRow:
    """An aggregate's state at ``version``, with the index columns the bulk paths query by.

    ``cohort``: for a member, the agreement funding its open chain ("SELF"), None when closed.
    ``due_on``: for a member, the ISO date an arrears lapse falls due. ``has_claims``: 1 if any claim.
    """

    aggregate_id: uuid.UUID
    kind: str
    version: int
    cohort: str | None
    due_on: str | None
    has_claims: int
    state: bytes

    def values(self, id_value: Any) -> tuple[Any, ...]:
        return (id_value, self.kind, self.version, self.cohort, self.due_on, self.has_claims, self.state)

    def aggregate(self, cls: type[A], version: int | None = None) -> A:
        """The aggregate this row snapshots (``state`` is zlib-compressed JSON)."""
        return cls.from_snapshot(self.aggregate_id, self.version if version is None else version,
                                 zlib.decompress(self.state))


SNAPSHOT_COMPRESSION_LEVEL = 1
"""zlib level for snapshot state: JSON shrinks ~8x at a few microseconds, which saves more I/O than it costs."""


def snapshot_row(agg: Aggregate[Any]) -> SnapshotRow:
    cohort = due_on = None
    has_claims = 0
    if isinstance(agg, Member):
        cohort = agg.cohort
        due = agg.arrears_lapse_on()
        due_on = due.isoformat() if due else None
        has_claims = int(bool(agg.state.claims))
    state = zlib.compress(agg.snapshot(), SNAPSHOT_COMPRESSION_LEVEL)
    return SnapshotRow(agg.id, type(agg).__name__, agg.version, cohort, due_on, has_claims, state)


class LedgerApplication(Application[uuid.UUID]):
    """The library application: named explicitly (it names the PostgreSQL tables)."""

    name = APPLICATION_NAME

    def construct_mapper(self) -> PydanticMapper:  # type: ignore[override]
        return self.factory.mapper(transcoder=JsonBytesTranscoder(), mapper_class=PydanticMapper)  # type: ignore[return-value]


class LedgerStore(abc.ABC):
    """Port: load aggregates, save them atomically, read the log in order."""

    settings: StoreSettings

    def __init__(self, settings: StoreSettings) -> None:
        self.settings = settings
        self.app = LedgerApplication(env=settings.library_env())
        self.mapper: PydanticMapper = self.app.mapper  # type: ignore[assignment]
        self.recorder = self.app.recorder
        self._create_snapshot_table()

    # --- writing ---------------------------------------------------------------------------------

    def save(self, *aggregates: Aggregate[Any]) -> int:
        """Write every pending event of ``aggregates`` and their snapshots in one transaction."""
        events: list[LedgerEvent] = []
        touched: list[Aggregate[Any]] = []
        for agg in aggregates:
            pending = agg.collect_events()
            if pending:
                events.extend(pending)
                touched.append(agg)
        if not events:
            return 0
        stored = [self.mapper.to_stored_event(e) for e in events]
        self.write(stored, [snapshot_row(a) for a in touched])
        return len(stored)

    def write(self, stored: Sequence[StoredEvent], snapshots: Sequence[SnapshotRow]) -> None:
        """Append stored events and upsert snapshots atomically (the bulk paths call this directly)."""
        assert stored, "nothing to write"
        try:
            self._write(stored, snapshots)
        except IntegrityError as e:
            raise ConcurrencyConflict(
                "aggregate", "another command changed the same record first; retry to re-decide"
            ) from e

    @abc.abstractmethod
    def _write(self, stored: Sequence[StoredEvent], snapshots: Sequence[SnapshotRow]) -> None: ...

    @abc.abstractmethod
    def _create_snapshot_table(self) -> None: ...

    # --- reading ---------------------------------------------------------------------------------

    def events_of(self, aggregate_id: uuid.UUID, after_version: int = 0) -> list[LedgerEvent]:
        stored = self.recorder.select_events(aggregate_id, gt=after_version or None)
        return [self.mapper.to_domain_event(s) for s in stored]

    def load(self, cls: type[A], aggregate_id: uuid.UUID) -> A:
        """The aggregate at its latest version (a fresh one with version 0 if it has no events)."""
        rows = self.snapshots([aggregate_id])
        row = rows.get(aggregate_id)
        agg = row.aggregate(cls) if row is not None and row.kind == cls.__name__ else cls(aggregate_id)
        return cls.replay(aggregate_id, self.events_of(aggregate_id, agg.version), base=agg)

    def load_many(self, cls: type[A], ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, A]:
        """Current state of many aggregates from their snapshots (missing ones replayed)."""
        wanted = list(dict.fromkeys(ids))
        out: dict[uuid.UUID, A] = {}
        rows = self.snapshots(wanted)
        for aggregate_id in wanted:
            row = rows.get(aggregate_id)
            if row is not None and row.kind == cls.__name__:
                out[aggregate_id] = row.aggregate(cls)
            else:
                out[aggregate_id] = self.load(cls, aggregate_id)
        return out

    def snapshots(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, SnapshotRow]:
        out: dict[uuid.UUID, SnapshotRow] = {}
        for i in range(0, len(ids), CHUNK_IDS_MAX):
            for row in self._select_snapshots(ids[i : i + CHUNK_IDS_MAX]):
                out[row.aggregate_id] = row
        return out

    @abc.abstractmethod
    def _select_snapshots(self, ids: Sequence[uuid.UUID]) -> Iterable[SnapshotRow]: ...

    @abc.abstractmethod
    def snapshots_of_kind(self, kind: str, cohort: str | None = None) -> Iterator[SnapshotRow]:
        """Every snapshot of a kind (optionally of one cohort), ordered by aggregate id."""

    @abc.abstractmethod
    def members_to_sweep(self, cohorts: Sequence[str], due_by: str) -> Iterator[SnapshotRow]:
        """Members of the given cohorts, or with an arrears lapse due by ``due_by``, or with claims."""

    def select_notifications(self, start: int, limit: int) -> Sequence[Notification]:
        return self.recorder.select_notifications(start=start, limit=limit)

    def max_notification_id(self) -> int:
        return self.recorder.max_notification_id() or 0

    def close(self) -> None:
        self.app.close()


class MemoryStore(LedgerStore):
    """In-memory adapter (the library's POPO recorder) for fast unit tests."""

    def _create_snapshot_table(self) -> None:
        self._snapshots: dict[uuid.UUID, SnapshotRow] = {}
        self._lock: threading.RLock = self.recorder._database_lock  # type: ignore[attr-defined]

    def _write(self, stored: Sequence[StoredEvent], snapshots: Sequence[SnapshotRow]) -> None:
        with self._lock:
            self.recorder._insert_events(stored)  # type: ignore[attr-defined]  # checks uniqueness first
            for row in snapshots:
                old = self._snapshots.get(row.aggregate_id)
                if old is None or row.version > old.version:
                    self._snapshots[row.aggregate_id] = row

    def _select_snapshots(self, ids: Sequence[uuid.UUID]) -> Iterable[SnapshotRow]:
        with self._lock:
            return [self._snapshots[i] for i in ids if i in self._snapshots]

    def snapshots_of_kind(self, kind: str, cohort: str | None = None) -> Iterator[SnapshotRow]:
        with self._lock:
            rows = [r for r in self._snapshots.values() if r.kind == kind and (cohort is None or r.cohort == cohort)]
        yield from sorted(rows, key=lambda r: r.aggregate_id.hex)


    def members_to_sweep(self, cohorts: Sequence[str], due_by: str) -> Iterator[SnapshotRow]:
        wanted = set(cohorts)
        with self._lock:
            rows = [
                r for r in self._snapshots.values()
                if r.kind == "Member"
                and (r.cohort in wanted or (r.due_on is not None and r.due_on <= due_by) or r.has_claims)
            ]
        yield from sorted(rows, key=lambda r: r.aggregate_id.hex)


class SQLiteStore(LedgerStore):
    """The embedded default: one SQLite file (WAL, synchronous=FULL as the library sets it)."""

    def _create_snapshot_table(self) -> None:
        with self._datastore.transaction(commit=True) as c:
            c.execute(
                f"CREATE TABLE IF NOT EXISTS {SNAPSHOT_TABLE} (aggregate_id TEXT PRIMARY KEY, kind TEXT NOT NULL, "
                "version INTEGER NOT NULL, cohort TEXT, due_on TEXT, has_claims INTEGER NOT NULL, state BLOB NOT NULL)"
            )
            c.execute(f"CREATE INDEX IF NOT EXISTS {SNAPSHOT_TABLE}_kind ON {SNAPSHOT_TABLE} (kind, cohort)")

    @property
    def _datastore(self) -> Any:
        return self.recorder.datastore  # type: ignore[attr-defined]

    def _write(self, stored: Sequence[StoredEvent], snapshots: Sequence[SnapshotRow]) -> None:
        statement = self.recorder.insert_events_statement  # type: ignore[attr-defined]
        with self._datastore.transaction(commit=True) as c:
            c.executemany(
                statement, [(s.originator_id.hex, s.originator_version, s.topic, s.state) for s in stored]
            )
            c.executemany(
                f"INSERT INTO {SNAPSHOT_TABLE} VALUES (?,?,?,?,?,?,?) ON CONFLICT(aggregate_id) DO UPDATE SET "
                f"{_UPSERT_SET} "
                f"WHERE excluded.version > {SNAPSHOT_TABLE}.version",
                [r.values(r.aggregate_id.hex) for r in snapshots],
            )

    def _select_snapshots(self, ids: Sequence[uuid.UUID]) -> Iterable[SnapshotRow]:
        marks = ",".join("?" * len(ids))
        with self._datastore.transaction(commit=False) as c:
            c.execute(f"SELECT * FROM {SNAPSHOT_TABLE} WHERE aggregate_id IN ({marks})", [i.hex for i in ids])
            rows = c.fetchall()
        return [self._row(r) for r in rows]

    @staticmethod
    def _row(r: Any) -> SnapshotRow:
        return SnapshotRow(uuid.UUID(r["aggregate_id"]), r["kind"], r["version"], r["cohort"], r["due_on"],
                           r["has_claims"], bytes(r["state"]))

    def snapshots_of_kind(self, kind: str, cohort: str | None = None) -> Iterator[SnapshotRow]:
        sql = f"SELECT * FROM {SNAPSHOT_TABLE} WHERE kind=?"
        params: list[Any] = [kind]
        if cohort is not None:
            sql += " AND cohort=?"
            params.append(cohort)
        with self._datastore.transaction(commit=False) as c:
            c.execute(sql + " ORDER BY aggregate_id", params)
            rows = c.fetchall()
        for r in rows:
            yield self._row(r)


    def members_to_sweep(self, cohorts: Sequence[str], due_by: str) -> Iterator[SnapshotRow]:
        marks = ",".join("?" * len(cohorts)) or "NULL"
        sql = (
            f"SELECT * FROM {SNAPSHOT_TABLE} WHERE kind='Member' AND "
            f"(cohort IN ({marks}) OR due_on <= ? OR has_claims = 1) ORDER BY aggregate_id"
        )
        with self._datastore.transaction(commit=False) as c:
            c.execute(sql, [*cohorts, due_by])
            rows = c.fetchall()
        for r in rows:
            yield self._row(r)


class PostgresStore(LedgerStore):
    """Production adapter: the library's PostgreSQL recorder (EXCLUSIVE table lock per write)."""

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
    def _datastore(self) -> Any:
        return self.recorder.datastore  # type: ignore[attr-defined]

    @property
    def _table(self) -> str:
        schema = self._datastore.schema or "public"
        return f'"{schema}".{SNAPSHOT_TABLE}'

    def _create_snapshot_table(self) -> None:
        with self._datastore.transaction(commit=True) as c:
            c.execute(
                f"CREATE TABLE IF NOT EXISTS {self._table} (aggregate_id uuid PRIMARY KEY, kind text NOT NULL, "
                "version bigint NOT NULL, cohort text, due_on text, has_claims integer NOT NULL, state bytea NOT NULL)"
            )
            c.execute(f"CREATE INDEX IF NOT EXISTS {SNAPSHOT_TABLE}_kind ON {self._table} (kind, cohort)")

    def _write(self, stored: Sequence[StoredEvent], snapshots: Sequence[SnapshotRow]) -> None:
        recorder: Any = self.recorder
        with self._datastore.transaction(commit=True) as curs:
            recorder._insert_stored_events(curs, stored)  # lock table, notify, insert via unnest
            if snapshots:
                curs.executemany(
                    f"INSERT INTO {self._table} VALUES (%s,%s,%s,%s,%s,%s,%s) ON CONFLICT (aggregate_id) DO UPDATE SET "
                    f"{_UPSERT_SET} "
                    f"WHERE excluded.version > {SNAPSHOT_TABLE}.version",
                    [r.values(r.aggregate_id) for r in snapshots],
                )

    def _select_snapshots(self, ids: Sequence[uuid.UUID]) -> Iterable[SnapshotRow]:
        with self._datastore.transaction(commit=False) as c:
            c.execute(f"SELECT * FROM {self._table} WHERE aggregate_id = ANY(%s)", [list(ids)])
            rows = c.fetchall()
        return [self._row(r) for r in rows]

    @staticmethod
    def _row(r: Any) -> SnapshotRow:
        return SnapshotRow(r["aggregate_id"], r["kind"], r["version"], r["cohort"], r["due_on"], r["has_claims"],
                           bytes(r["state"]))

    def snapshots_of_kind(self, kind: str, cohort: str | None = None) -> Iterator[SnapshotRow]:
        sql = f"SELECT * FROM {self._table} WHERE kind=%s"
        params: list[Any] = [kind]
        if cohort is not None:
            sql += " AND cohort=%s"
            params.append(cohort)
        with self._datastore.transaction(commit=False) as c:
            c.execute(sql + " ORDER BY aggregate_id", params)
            rows = c.fetchall()
        for r in rows:
            yield self._row(r)

    def members_to_sweep(self, cohorts: Sequence[str], due_by: str) -> Iterator[SnapshotRow]:
        sql = (
            f"SELECT * FROM {self._table} WHERE kind='Member' AND "
            "(cohort = ANY(%s) OR due_on <= %s OR has_claims = 1) ORDER BY aggregate_id"
        )
        with self._datastore.transaction(commit=False) as c:
            c.execute(sql, [list(cohorts), due_by])
            rows = c.fetchall()
        for r in rows:
            yield self._row(r)


def open_store(url: str | None = None) -> LedgerStore:
    settings = StoreSettings.from_url(url)
    cls: type[LedgerStore] = {"memory": MemoryStore, "sqlite": SQLiteStore, "postgres": PostgresStore}[settings.kind]
    return cls(settings)


def topic_of(event_type: type[LedgerEvent]) -> str:
    return get_topic(event_type)

"""What the SQL adapters of :class:`eventstore.store.LedgerStore` share (:class:`SqlStore`), and SQLite's.

The write transaction (:meth:`SqlStore._write`) keeps the invariants of :mod:`eventstore.store`: events, chain
row, snapshot states and rows in one transaction, the guard checked under the events' write lock.
"""

from __future__ import annotations

import abc
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from eventsourcing.persistence import StoredEvent

from eventstore.chain import CHAIN_TABLE, ChainError, RawEvent
from eventstore.chain_store import SqlChain
from eventstore.rows import A
from eventstore.state_codec import unpack
from eventstore.store import (
    CHAINED_APPLICATION_ID,
    CHUNK_IDS_MAX,
    READ_LIMIT_MAX,
    SNAPSHOT_TABLE,
    STATE_TABLE,
    EventRow,
    LedgerStore,
    LogGuard,
    LogRow,
    SnapshotParams,
    SnapshotRow,
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
            # An index on due_on served no query (the sweep's OR over cohort, due_on and has_claims is read through
            # the kind index, on both databases) and cost every snapshot update an index entry rewrite, for each
            # member in every cohort payment (its arrears lapse date moves): dropped where an older store has it.
            c.execute(f"DROP INDEX IF EXISTS {self._index_t(SNAPSHOT_TABLE + '_due')}")

    def _index_t(self, name: str) -> str:
        """An index of this store, qualified as DROP INDEX needs it."""
        return name

    SNAPSHOT_UPSERT = ("ON CONFLICT (aggregate_id) DO UPDATE SET kind=excluded.kind, version=excluded.version, "
                       "cohort=excluded.cohort, due_on=excluded.due_on, has_claims=excluded.has_claims, "
                       f"state_hash=excluded.state_hash WHERE excluded.version > {SNAPSHOT_TABLE}.version")
    """How a snapshot row replaces the stored one: only by a higher version (a stale writer never goes back)."""

    def _write(
        self, events: Sequence[EventRow], snapshots: Sequence[SnapshotParams], states: list[tuple[bytes, bytes]],
        guard: LogGuard | None,
    ) -> int:
        with self._tx(commit=True) as c:
            self._plain_cursor(c)
            first, ordered = self._insert_events(c, events)
            if guard is not None:
                self._check_guard(c, guard, first)
            self._link(c, first, ordered)
            if states:
                self._insert_states(c, states)
            if snapshots:
                self._upsert_snapshots(c, snapshots)
        return first

    def _insert_states(self, cursor: Any, states: list[tuple[bytes, bytes]]) -> None:
        p = self.placeholder
        cursor.executemany(f"INSERT INTO {self._states_t} VALUES ({p},{p}) ON CONFLICT (state_hash) DO NOTHING",
                           states)

    def _upsert_snapshots(self, cursor: Any, snapshots: Sequence[SnapshotParams]) -> None:
        p, db_id = self.placeholder, self._db_id
        cursor.executemany(
            f"INSERT INTO {self._snapshots_t} VALUES ({p},{p},{p},{p},{p},{p},{p}) {self.SNAPSHOT_UPSERT}",
            [(db_id(i), kind, v, cohort, due, claims, h) for i, kind, v, cohort, due, claims, h in snapshots],
        )

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

    @abc.abstractmethod
    def _statement(self) -> AbstractContextManager[Any]:
        """A cursor for ONE read statement, outside any explicit transaction (both drivers' connections are in
        autocommit mode): a single statement reads one consistent snapshot of the database by itself, and it is
        spared the ``BEGIN`` and the ``ROLLBACK`` (two round trips on PostgreSQL)."""

    def _read(self, sql: str, params: Sequence[Any]) -> list[Any]:
        """Rows as tuples (positional access is the cheap one on both drivers), by one statement."""
        with self._statement() as c:
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
        return [r if r[4][:1] == b"{" else (*r[:4], unpack(r[4])) for r in fetched]

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

    def load(self, cls: type[A], aggregate_id: uuid.UUID) -> A:
        """As :meth:`LedgerStore.load`, in ONE statement (:meth:`_statement`): the snapshot row of the aggregate's
        kind joined to its state (part 0, at most one row), then the events after its version, or after 0 without
        one (part 1). A single command loads several aggregates; on PostgreSQL each transaction was four round
        trips (BEGIN, two queries, ROLLBACK), now one."""
        p, db_id = self.placeholder, self._db_id(aggregate_id)
        with self._statement() as c:
            self._plain_cursor(c)
            c.execute(
                f"WITH s AS (SELECT kind, version, cohort, due_on, has_claims, state_hash FROM {self._snapshots_t} "
                f"WHERE aggregate_id = {p} AND kind = {p}) "
                "SELECT 0, s.version, s.kind, s.cohort, s.due_on, s.has_claims, s.state_hash, st.state "
                f"FROM s JOIN {self._states_t} st ON st.state_hash = s.state_hash UNION ALL "
                f"SELECT 1, e.originator_version, e.topic, NULL, NULL, NULL, NULL, e.state FROM {self._events_t} e "
                f"WHERE e.originator_id = {p} AND e.originator_version > COALESCE((SELECT version FROM s), 0)",
                [db_id, cls.__name__, db_id])
            found = c.fetchall()
        row = None
        newer = []
        for part, version, kind_or_topic, cohort, due_on, has_claims, state_hash, state in found:
            if part == 0:
                row = SnapshotRow(aggregate_id, kind_or_topic, version, cohort, due_on, has_claims, bytes(state_hash),
                                  bytes(state))
            else:
                newer.append((version, kind_or_topic, state))
        newer.sort()
        base = row.version if row is not None else 0
        assert not newer or (newer[0][0] == base + 1 and newer[-1][0] == base + len(newer)), "a gap in the stream"
        agg = row.aggregate(cls) if row is not None else cls(aggregate_id)
        to_domain = self.mapper.to_domain_event
        return cls.replay(aggregate_id, [to_domain(StoredEvent(originator_id=aggregate_id, originator_version=v,
                                                               topic=t, state=bytes(state)))
                                         for v, t, state in newer], base=agg)

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

    @contextmanager
    def _statement(self) -> Iterator[Any]:
        with self.recorder.datastore.get_connection(commit=False) as conn, conn.cursor() as cursor:
            yield cursor

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

    def _raw_rows(self, fetched: list[Any]) -> list[RawEvent]:
        """As fetched: the casts give the :data:`RawEvent` columns already, and the store's cursor gives plain
        tuples (``_plain_cursor``; checked on the first row), so no row is remade."""
        if fetched and type(fetched[0]) is not tuple:
            return [self._raw_row(r) for r in fetched]
        return fetched

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


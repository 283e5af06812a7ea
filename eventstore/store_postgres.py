"""The PostgreSQL adapter of :class:`eventstore.store.LedgerStore`: the library's recorder (EXCLUSIVE table lock
per write) and the project's snapshot and chain tables in the same schema."""

from __future__ import annotations

import itertools
import struct
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from eventstore.chain import CHAIN_TABLE, ChainError, RawEvent
from eventstore.settings import StoreSettings
from eventstore.store import (
    CHAINED_COMMENT,
    SCHEMA_LOCK_KEY,
    SNAPSHOT_TABLE,
    STATE_TABLE,
    EventRow,
    SnapshotParams,
    SnapshotRow,
)
from eventstore.store_sql import SqlStore

COPY_MIN_ROWS = 64
"""From this many events (or snapshot rows) in one write, they go through a binary COPY into a staging table;
below it, one statement with the rows as an array (the library's way) is fewer round trips."""
SNAPSHOT_FILLFACTOR = 50
"""Percent of each page of ``jamsos_snapshots`` filled by inserts: the rest is for updates on the same page."""
STAGE_EVENTS = "jamsos_stage_events"
STAGE_SNAPSHOTS = "jamsos_stage_snapshots"
"""Temporary tables (the session's own, dropped at commit or rollback) of the bulk write."""

COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # signature, flags, header extension length
COPY_TRAILER = b"\xff\xff"
_NULL = b"\xff\xff\xff\xff"
_EVENT_HEAD = struct.Struct("!hiiI16sIq")  # 5 fields; seq int4; originator_id uuid; originator_version int8
_SNAPSHOT_HEAD = struct.Struct("!hI16s")  # 7 fields; aggregate_id uuid
_VERSION = struct.Struct("!Iq")
_LENGTH = struct.Struct("!i")


def _field(value: bytes | None) -> bytes:
    return _NULL if value is None else _LENGTH.pack(len(value)) + value


def binary_events(events: Sequence[EventRow]) -> bytes:
    """The rows ``(seq, originator_id, originator_version, topic, state)`` of :data:`STAGE_EVENTS` in PostgreSQL's
    binary COPY format, built in one pass (psycopg's ``write_row`` adapts value by value: several times slower).
    A topic or state shared by many events (the bulk paths copy one decision's bytes) is framed once."""
    head = _EVENT_HEAD.pack
    topics: dict[str, bytes] = {}
    states: dict[int, bytes] = {}  # by id(): every state object stays alive in ``events`` meanwhile
    parts = [COPY_HEADER]
    append = parts.append
    for seq, (aggregate_id, version, topic, state) in enumerate(events):
        t = topics.get(topic)
        if t is None:
            t = topics[topic] = _field(topic.encode())
        framed = states.get(id(state))
        if framed is None:
            framed = states[id(state)] = _field(bytes(state))
        append(head(5, 4, seq, 16, aggregate_id.bytes, 8, version))
        append(t)
        append(framed)
    append(COPY_TRAILER)
    return b"".join(parts)


def binary_snapshots(snapshots: Iterable[SnapshotParams]) -> bytes:
    """Snapshot rows (the columns of ``jamsos_snapshots``, in order) in the binary COPY format; the columns after
    the version, shared by every member in the same situation, are framed once per situation."""
    head, version_of = _SNAPSHOT_HEAD.pack, _VERSION.pack
    kinds: dict[str, bytes] = {}
    tails: dict[tuple[str | None, str | None, int, bytes], bytes] = {}
    parts = [COPY_HEADER]
    append = parts.append
    for aggregate_id, kind, version, cohort, due_on, has_claims, digest in snapshots:
        k = kinds.get(kind)
        if k is None:
            k = kinds[kind] = _field(kind.encode())
        key = (cohort, due_on, has_claims, digest)
        tail = tails.get(key)
        if tail is None:
            tail = tails[key] = (_field(None if cohort is None else cohort.encode())
                                 + _field(None if due_on is None else due_on.encode())
                                 + _LENGTH.pack(4) + struct.pack("!i", has_claims) + _field(bytes(digest)))
        append(head(7, 16, aggregate_id.bytes))
        append(k)
        append(version_of(8, version))
        append(tail)
    append(COPY_TRAILER)
    return b"".join(parts)


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

    def _index_t(self, name: str) -> str:
        return f"{self._schema}.{name}"

    def _create_snapshot_tables(self) -> None:
        super()._create_snapshot_tables()
        # Half-empty pages: a cohort payment updates every member's snapshot row, and with room on its page and no
        # indexed column changed (kind, cohort) the update is HOT — no index entry written. Updating 10k rows
        # measured 37-39 ms at fillfactor 50 against 98-103 ms at 100 (load 6). An older store's existing pages keep
        # their fill until rewritten (VACUUM FULL); its new pages get the room.
        with self._tx(commit=True) as c:
            c.execute("SELECT reloptions FROM pg_class WHERE oid = to_regclass(%s)", [self._snapshots_t])
            found = c.fetchone()
            options = (found["reloptions"] if isinstance(found, dict) else found[0]) if found else None
            if f"fillfactor={SNAPSHOT_FILLFACTOR}" not in (options or []):
                c.execute(f"ALTER TABLE {self._snapshots_t} SET (fillfactor = {SNAPSHOT_FILLFACTOR})")

    @property
    def _events_t(self) -> str:
        return f"{self._schema}.{self.recorder.events_table_name}"

    @contextmanager
    def _statement(self) -> Iterator[Any]:
        with self.recorder.datastore.get_connection() as conn, conn.cursor() as cursor:  # autocommit connections
            yield cursor

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
        if len(events) >= COPY_MIN_ROWS:
            return self._copy_events(cursor, events)
        # what the library's ``_insert_stored_events`` does (lock the table, notify, insert via unnest),
        # returning each row's identity with its notification id
        recorder = self.recorder
        recorder._lock_table(cursor)
        recorder._notify_channel(cursor)
        rows = [recorder.construct_pg_stored_event(i, v, t, s) for i, v, t, s in events]
        cursor.execute(self._insert_returning, (rows,))
        return self._positions(events, cursor.fetchall())

    def _copy_events(self, cursor: Any, events: Sequence[EventRow]) -> tuple[int, Sequence[EventRow]]:
        """The bulk insert: the rows go to a staging table with a binary ``COPY`` **before** the lock (the transfer
        and parsing hold no lock), then one ``INSERT ... SELECT ... ORDER BY seq`` under the library's EXCLUSIVE
        table lock (and its NOTIFY) gives them their notification ids, in input order, checked as the array
        insert's are (:meth:`_positions`)."""
        stage = STAGE_EVENTS
        cursor.execute(f"CREATE TEMP TABLE {stage} (seq integer NOT NULL, originator_id uuid NOT NULL, "
                       "originator_version bigint NOT NULL, topic text, state bytea) ON COMMIT DROP")
        with cursor.copy(f"COPY {stage} FROM STDIN (FORMAT BINARY)") as copy:
            copy.write(binary_events(events))
        recorder = self.recorder
        recorder._lock_table(cursor)
        recorder._notify_channel(cursor)
        from psycopg.rows import tuple_row

        with cursor.connection.cursor(binary=True, row_factory=tuple_row) as ids:  # binary: no uuid text parsing
            ids.execute(f"INSERT INTO {self._events_t} (originator_id, originator_version, topic, state) "
                        f"SELECT originator_id, originator_version, topic, state FROM {stage} ORDER BY seq "
                        "RETURNING notification_id, originator_id, originator_version")
            return self._positions(events, ids.fetchall())

    def _positions(self, events: Sequence[EventRow], returned: list[Any]) -> tuple[int, Sequence[EventRow]]:
        """The first position of ``events`` and the events in position order, from the (notification id,
        originator id, version) the insert returned; ChainError unless they hold one position each, no hole."""
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

    def _upsert_snapshots(self, cursor: Any, snapshots: Sequence[SnapshotParams]) -> None:
        if len(snapshots) < COPY_MIN_ROWS:
            super()._upsert_snapshots(cursor, snapshots)
            return
        latest: dict[uuid.UUID, SnapshotParams] = {}
        for row in snapshots:  # one row per aggregate (ON CONFLICT may touch a row once per statement): its latest
            seen = latest.get(row[0])
            if seen is None or row[2] > seen[2]:
                latest[row[0]] = row
        stage = STAGE_SNAPSHOTS
        cursor.execute(f"CREATE TEMP TABLE {stage} (aggregate_id uuid NOT NULL, kind text NOT NULL, "
                       "version bigint NOT NULL, cohort text, due_on text, has_claims integer NOT NULL, "
                       "state_hash bytea NOT NULL) ON COMMIT DROP")
        with cursor.copy(f"COPY {stage} FROM STDIN (FORMAT BINARY)") as copy:
            copy.write(binary_snapshots(latest.values()))
        # every snapshot writer holds the events table's lock (this transaction too): no row can appear between
        # the UPDATE of the stored ones and the INSERT of the others (which keeps its ON CONFLICT all the same)
        cursor.execute(f"UPDATE {self._snapshots_t} t SET kind = s.kind, version = s.version, cohort = s.cohort, "
                       "due_on = s.due_on, has_claims = s.has_claims, state_hash = s.state_hash "
                       f"FROM {stage} s WHERE t.aggregate_id = s.aggregate_id AND s.version > t.version")
        cursor.execute(f"INSERT INTO {self._snapshots_t} SELECT * FROM {stage} s WHERE NOT EXISTS (SELECT 1 FROM "
                       f"{self._snapshots_t} t WHERE t.aggregate_id = s.aggregate_id) {self.SNAPSHOT_UPSERT}")

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

    @property
    def _newer_sql(self) -> str:
        """See :meth:`_select_newer` (parameters: the ids, their versions)."""
        return ("SELECT s.id, e.originator_version, e.topic, e.state "
                "FROM unnest(%s::uuid[], %s::bigint[]) AS s(id, v) CROSS JOIN LATERAL ("
                f"SELECT originator_version, topic, state FROM {self._events_t} "
                "WHERE originator_id = s.id AND originator_version > s.v OFFSET 0) e")  # OFFSET 0: never pulled up

    def _select_newer(self, rows: Sequence[SnapshotRow]) -> Iterable[tuple[uuid.UUID, int, str, bytes]]:
        """The events after each row's version: one primary-key range per row, in a LATERAL subquery the planner
        may not pull up into a join (``OFFSET 0``), so a nested loop over the rows whatever the statistics say.
        As a plain join, planned without statistics (this machine's server runs with autovacuum off), it became a
        hash join over the whole events table once that was large: ~1 s per 500 members at 13.5M events, where
        the index ranges take milliseconds."""
        with self._statement() as c:
            c.execute(self._newer_sql, [[r.aggregate_id for r in rows], [r.version for r in rows]])
            found = c.fetchall()
        return [(r["id"], r["originator_version"], r["topic"], bytes(r["state"])) for r in found]


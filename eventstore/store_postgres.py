"""The PostgreSQL adapter of :class:`eventstore.store.LedgerStore`: the library's recorder (EXCLUSIVE table lock
per write) and the project's snapshot and chain tables in the same schema."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from eventstore.chain import CHAIN_TABLE, ChainError, RawEvent
from eventstore.settings import StoreSettings
from eventstore.store import CHAINED_COMMENT, SCHEMA_LOCK_KEY, SNAPSHOT_TABLE, STATE_TABLE, EventRow, SnapshotRow
from eventstore.store_sql import SqlStore


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


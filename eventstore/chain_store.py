"""The chain table beside the events (SQLite and PostgreSQL): linked in the write transaction, read raw.

Invariants:
- A write's chain row commits with its events or not at all (same transaction); the previous head is read
  after the events are inserted, i.e. under the write lock (SQLite: the one writer; PostgreSQL: the
  library's EXCLUSIVE lock on the events table), so two writers can never link after the same head — and
  the table's keys (batch, previous, hash, first position: each unique) would refuse a fork anyway.
- The positions recorded are the positions the database gave the events, checked in the transaction.
- The one-time upgrade runs when a store without a chain table is opened, under the write lock, and only if
  the store was never chained (a marker in the event store, set with the table): a dropped chain table is
  re-created **empty**, never re-linked, so every event it covered shows as unchained in ``audit verify``.
- Raw reads return the stored bytes untouched (SQLite casts every column to BLOB: a tampered TEXT or a
  non-UTF-8 value reads as its bytes instead of raising).
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any

from eventstore.chain import (
    CHAIN_COLUMNS,
    CHAIN_TABLE,
    KIND_UPGRADE,
    KIND_WRITE,
    UPGRADE_BATCH_MAX,
    ChainError,
    ChainRow,
    RawEvent,
    next_row,
    raw_leaf,
    runs,
    write_leaves,
)

EventRow = tuple[Any, int, str, bytes]


def chain_now() -> str:
    """Wall-clock time of a chain row (when the database committed it; not the ledger's business clock)."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def text_of(value: Any) -> str:
    """A text column read as bytes, as text that encodes back to exactly those bytes."""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", "surrogateescape")
    return "" if value is None else str(value)


def chain_row(r: Sequence[Any]) -> ChainRow:
    def blob(v: Any) -> bytes:
        return b"" if v is None else bytes(v)

    return ChainRow(int(r[0]), int(r[1] or 0), int(r[2] or 0), int(r[3] or 0), text_of(r[4]), text_of(r[5]),
                    blob(r[6]), blob(r[7]), blob(r[8]), blob(r[9]))


class SqlChain(abc.ABC):
    """Mixin of :class:`eventstore.store.SqlStore`: the chain table, the link in each write, the upgrade,
    and the raw readers the verifier uses."""

    placeholder: str
    blob_type: str
    position_column: str
    batch_type = "BIGINT"

    @abc.abstractmethod
    def _tx(self, commit: bool) -> AbstractContextManager[Any]: ...

    @property
    @abc.abstractmethod
    def _events_t(self) -> str: ...

    @property
    def _chain_t(self) -> str:
        return CHAIN_TABLE

    # --- dialect ----------------------------------------------------------------------------------

    @abc.abstractmethod
    def _chain_table_exists(self, cursor: Any) -> bool: ...

    @abc.abstractmethod
    def _lock_events(self, cursor: Any) -> None:
        """Take the events' write lock now (before reading anything the decision depends on)."""

    @abc.abstractmethod
    def _chained_marker(self, cursor: Any) -> bool:
        """Whether the event store says it was chained (so a missing chain table was removed)."""

    @abc.abstractmethod
    def _set_chained_marker(self, cursor: Any) -> None: ...

    @abc.abstractmethod
    def _raw_columns(self) -> str:
        """SELECT list giving position, id (32 hex digits), version, topic, state, as stored."""

    @abc.abstractmethod
    def _raw_row(self, row: Sequence[Any]) -> RawEvent: ...

    @abc.abstractmethod
    def _chain_columns(self, leaves: bool) -> str: ...

    def _chain_extra_ddl(self) -> list[str]:
        return []

    @abc.abstractmethod
    def _plain_cursor(self, cursor: Any) -> None:
        """Rows as plain tuples from here on in this cursor."""

    # --- the table and the upgrade ----------------------------------------------------------------

    def _create_chain(self) -> None:
        with self._tx(commit=False) as c:
            self._plain_cursor(c)
            if self._chain_table_exists(c):
                return
        with self._tx(commit=True) as c:
            self._plain_cursor(c)
            self._lock_events(c)
            if self._chain_table_exists(c):
                return  # another process created it meanwhile
            chained_before = self._chained_marker(c)
            blob = self.blob_type
            c.execute(
                f"CREATE TABLE {self._chain_t} (batch {self.batch_type} PRIMARY KEY, "
                "first_position BIGINT NOT NULL UNIQUE, last_position BIGINT NOT NULL, "
                "event_count BIGINT NOT NULL, kind TEXT NOT NULL, recorded_at TEXT NOT NULL, "
                f"leaves {blob} NOT NULL, root {blob} NOT NULL, "
                f"previous {blob} NOT NULL UNIQUE, hash {blob} NOT NULL UNIQUE)"
            )
            for statement in self._chain_extra_ddl():
                c.execute(statement)
            if not chained_before:
                self._link_existing(c)
            self._set_chained_marker(c)

    def _link_existing(self, cursor: Any) -> None:
        """The one-time upgrade: link every event already stored, in rows of contiguous positions (a store
        written before the chain may have holes: rolled-back PostgreSQL inserts)."""
        head: tuple[int, bytes] | None = None
        after = 0
        at = chain_now()
        while True:
            page = self._raw_page(cursor, after, UPGRADE_BATCH_MAX)
            if not page:
                return
            positions = [r[0] for r in page]
            for start, end in runs(positions):
                leaves = b"".join(raw_leaf(r) for r in page[start:end])
                row = next_row(head, positions[start], leaves, KIND_UPGRADE, at)
                self._insert_chain_row(cursor, row)
                head = (row.batch, row.hash)
            after = positions[-1]

    def _insert_chain_row(self, cursor: Any, row: ChainRow) -> None:
        marks = ",".join([self.placeholder] * len(CHAIN_COLUMNS))
        cursor.execute(f"INSERT INTO {self._chain_t} ({', '.join(CHAIN_COLUMNS)}) VALUES ({marks})", row.params())

    def _link(self, cursor: Any, first: int, events: Sequence[EventRow]) -> None:
        """Inside the write transaction, after the events' insert (so under the write lock): the chain row of
        the events now at positions ``first``... (``events`` in position order)."""
        cursor.execute(f"SELECT batch, last_position, hash FROM {self._chain_t} ORDER BY batch DESC LIMIT 1")
        head = cursor.fetchone()
        if head is not None and first <= head[1]:
            raise ChainError(f"chain: a write at position {first} is not after the chain's head {head[1]}")
        row = next_row((int(head[0]), bytes(head[2])) if head is not None else None, first,
                       write_leaves(first, events), KIND_WRITE, chain_now())
        self._insert_chain_row(cursor, row)

    # --- raw reads --------------------------------------------------------------------------------

    def _raw_page(self, cursor: Any, after: int, limit: int) -> list[RawEvent]:
        p = self.placeholder
        cursor.execute(f"SELECT {self._raw_columns()} FROM {self._events_t} WHERE {self.position_column} > {p} "
                       f"ORDER BY {self.position_column} LIMIT {p}", [after, limit])
        return self._raw_rows(cursor.fetchall())

    def _raw_rows(self, fetched: list[Any]) -> list[RawEvent]:
        """The fetched rows as :data:`RawEvent` tuples."""
        return [self._raw_row(r) for r in fetched]

    def raw_events(self, after: int, limit: int) -> list[RawEvent]:
        """Up to ``limit`` events after position ``after``, as stored bytes (see :data:`RawEvent`)."""
        with self._tx(commit=False) as c:
            self._plain_cursor(c)
            return self._raw_page(c, after, limit)

    def _chain_query(self, where: str, params: Sequence[Any], order: str, limit: int,
                     leaves: bool = True) -> list[ChainRow]:
        sql = (f"SELECT {self._chain_columns(leaves)} FROM {self._chain_t} {where} ORDER BY {order} "
               f"LIMIT {self.placeholder}")
        with self._tx(commit=False) as c:
            self._plain_cursor(c)
            c.execute(sql, [*params, limit])
            return [chain_row(r) for r in c.fetchall()]

    def chain_rows(self, after_batch: int, limit: int, *, leaves: bool = True) -> list[ChainRow]:
        """Chain rows after ``after_batch``, in batch order."""
        return self._chain_query(f"WHERE batch > {self.placeholder}", [after_batch], "batch", limit, leaves)

    def chain_row_at(self, position: int) -> ChainRow | None:
        """The chain row whose range holds ``position`` (None if no row does)."""
        found = self._chain_query(f"WHERE first_position <= {self.placeholder}", [position],
                                  "first_position DESC", 1)
        return found[0] if found and found[0].last_position >= position else None

    def chain_head(self) -> ChainRow | None:
        found = self._chain_query("", [], "batch DESC", 1, leaves=False)
        return found[0] if found else None

    def chain_batch_of(self, digest: bytes) -> int | None:
        with self._tx(commit=False) as c:
            self._plain_cursor(c)
            c.execute(f"SELECT batch FROM {self._chain_t} WHERE hash = {self.placeholder}", [digest])
            found = c.fetchone()
        return int(found[0]) if found is not None else None

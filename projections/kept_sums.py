"""Sums kept beside a projection's rows (``projections.chain_counts``, the journal's day totals): a table keyed by
what a report groups by, with a column the projection adds to in every batch, so the report reads the sums
instead of the rows they sum.

Invariant: a batch adds its own changes once, inside the runner's transaction, so a rolled back batch adds
nothing and a rebuild from position 0 gives the same sums (a key whose sum fell back to 0 keeps its row).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.engine import Connection


def add_to_sums(conn: Connection, table: Table, key: Sequence[str], column: str,
                deltas: Mapping[tuple[Any, ...], int]) -> None:
    """``column += delta`` of the row of each key in ``deltas`` (a new row at ``delta`` for a new key), as one
    ``INSERT … ON CONFLICT (key) DO UPDATE`` per batch in the connection's dialect (SQLite or PostgreSQL)."""
    rows = [{**dict(zip(key, k, strict=True)), column: n} for k, n in deltas.items() if n != 0]
    if not rows:
        return
    insert = _upsertable(conn, table)
    conn.execute(insert.on_conflict_do_update(index_elements=list(key),
                                              set_={column: table.c[column] + insert.excluded[column]}), rows)


def insert_missing(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert ``rows``, leaving any whose primary key is stored already as it is (``ON CONFLICT DO NOTHING`` in
    the connection's dialect)."""
    if not rows:
        return
    conn.execute(_upsertable(conn, table).on_conflict_do_nothing(), list(rows))


def _upsertable(conn: Connection, table: Table) -> Any:
    """An ``INSERT`` into ``table`` in the connection's dialect (SQLite or PostgreSQL), which has ``ON CONFLICT``."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql
        return postgresql.insert(table)
    from sqlalchemy.dialects import sqlite
    return sqlite.insert(table)

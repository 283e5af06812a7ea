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
    statement: Any
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql
        pg = postgresql.insert(table)
        statement = pg.on_conflict_do_update(index_elements=list(key),
                                             set_={column: table.c[column] + pg.excluded[column]})
    else:
        from sqlalchemy.dialects import sqlite
        lite = sqlite.insert(table)
        statement = lite.on_conflict_do_update(index_elements=list(key),
                                               set_={column: table.c[column] + lite.excluded[column]})
    conn.execute(statement, rows)


def insert_missing(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert ``rows``, leaving any whose primary key is stored already as it is (``ON CONFLICT DO NOTHING`` in
    the connection's dialect)."""
    if not rows:
        return
    statement: Any
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql
        statement = postgresql.insert(table).on_conflict_do_nothing()
    else:
        from sqlalchemy.dialects import sqlite
        statement = sqlite.insert(table).on_conflict_do_nothing()
    conn.execute(statement, list(rows))

"""Keep the SQL views of ``projections.sql_views`` pointed at the serving generation of their tables.

``refresh(conn, names)`` runs inside the caller's transaction: the runner calls it in the transaction that
switches a rebuilt generation (before the old tables are dropped) and when a runner first serves its
tables. Each view's DDL is recorded by digest in ``jamsos_sql_views``, so a refresh that changes nothing
writes nothing.

Invariants:
- A view is (re)created only when every projection it reads has its tables at the version of the code;
  otherwise it is dropped (it will come back when that projection is rebuilt), so it never points at
  tables about to be dropped.
- Drop and create run in one transaction: a reader sees the old view or the new one, never none
  (PostgreSQL's DDL is transactional; on SQLite the catalogue rows are written first, which opens the
  transaction the DDL then joins).
- PostgreSQL: ``CREATE OR REPLACE VIEW`` while the columns and their types are unchanged (views an auditor
  built on ours survive a rebuild); ``DROP VIEW`` + ``CREATE VIEW`` when they change.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Column, MetaData, String, Table, delete, insert, select
from sqlalchemy.engine import Connection

from projections.registry import PROJECTIONS
from projections.runner import Projection, positions
from projections.sql_views import VIEWS, View

log = logging.getLogger("jamsos.sql_views")
SQL_VIEWS_TABLE = "jamsos_sql_views"
LOCK_KEY = 0x4A414D5356  # PostgreSQL advisory lock: one process at a time changes the views of a database

catalogue_metadata = MetaData()
catalogue = Table(
    SQL_VIEWS_TABLE, catalogue_metadata,
    Column("name", String(64), primary_key=True),
    Column("digest", String(64), nullable=False),
    Column("signature", String(64), nullable=False),
    Column("updated_at", String(40), nullable=False),
)


@dataclass(frozen=True, slots=True)
class Change:
    """What one view needs: drop it (if it exists), then the DDL creating it (none: it stays dropped)."""

    view: View
    drop: bool
    create: list[str]
    digest: str = ""
    signature: str = ""

    @property
    def statements(self) -> list[str]:
        return ([f"DROP VIEW IF EXISTS {self.view.name}"] if self.drop else []) + self.create


def refresh(conn: Connection, names: Collection[str] | None = None) -> list[str]:
    """Inside the caller's transaction: bring every view reading one of the projections ``names`` (all
    when None) up to date with the serving generations; returns the names of the views changed."""
    views = [v for v in VIEWS if names is None or v.projections & set(names)]
    if not views:
        return []
    if not _plan(conn, views):
        return []
    if conn.dialect.name == "postgresql":  # concurrent first runs: one decides and creates, the others wait
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({LOCK_KEY})")
    catalogue.create(conn, checkfirst=True)
    changes = _plan(conn, views)  # again: another process may have done it meanwhile
    if not changes:
        return []
    now = datetime.now(UTC).isoformat()
    # the catalogue rows first: on SQLite a write opens the transaction the DDL below then runs in
    conn.execute(delete(catalogue).where(catalogue.c.name.in_([c.view.name for c in changes])))
    rows = [{"name": c.view.name, "digest": c.digest, "signature": c.signature, "updated_at": now}
            for c in changes if c.create]
    if rows:
        conn.execute(insert(catalogue), rows)
    cursor = conn.connection.cursor()  # the driver's own, unparsed: comments hold '%' and ':' freely
    try:
        for change in changes:
            for statement in change.statements:
                cursor.execute(statement)
    finally:
        cursor.close()
    return [c.view.name for c in changes]


def _plan(conn: Connection, views: list[View]) -> list[Change]:
    tables, existing = _relations(conn)
    serving = {row.name: row for row in conn.execute(select(positions.c.name, positions.c.generation,
                                                            positions.c.schema_version))}
    recorded = {row.name: row for row in conn.execute(select(catalogue))} if SQL_VIEWS_TABLE in tables else {}
    dialect = conn.dialect.name
    changes = []
    for view in views:
        if view.name in tables:  # someone else's table by that name (a shared schema): leave it alone
            log.warning("a table named %s exists: the SQL view %s is not created", view.name, view.name)
            continue
        generations = {p: int(serving[p].generation) for p in view.projections if p in serving}
        ready = all(p in generations and serving[p].schema_version == _code_version(p) for p in view.projections) \
            and all(f"{t}_g{generations[p]}" in tables for p, t in view.tables)
        if not ready:
            if view.name in existing or view.name in recorded:
                changes.append(Change(view, view.name in existing, []))
            continue
        digest, signature = view.digest(dialect, generations), view.signature()
        before = recorded.get(view.name)
        if view.name in existing and before is not None and before.digest == digest:
            continue
        replace = dialect == "postgresql" and view.name in existing and before is not None \
            and before.signature == signature
        changes.append(Change(view, not replace, view.statements(dialect, generations, replace=replace), digest,
                              signature))
    return changes


def _code_version(name: str) -> int:
    """The schema version of projection ``name`` in this code (its tables' ``version``)."""
    factory = PROJECTIONS[name]
    if isinstance(factory, type) and issubclass(factory, Projection):
        return factory.version
    return PROJECTIONS[name](1).version


def _relations(conn: Connection) -> tuple[set[str], set[str]]:
    """Names of the tables and of the views in the views database (PostgreSQL: in the current schema)."""
    if conn.dialect.name == "postgresql":
        rows = conn.exec_driver_sql(
            "SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'v')").all()
        return {r[0] for r in rows if r[1] != "v"}, {r[0] for r in rows if r[1] == "v"}
    rows = conn.exec_driver_sql("SELECT name, type FROM sqlite_master WHERE type IN ('table', 'view')").all()
    return {r[0] for r in rows if r[1] == "table"}, {r[0] for r in rows if r[1] == "view"}

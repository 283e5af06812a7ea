"""The stores of :mod:`bench.bulk_write` (a fresh ledger store per variant, and the raw baseline on the same kind of
database), its timing and its log: shared with :mod:`bench.single`."""

from __future__ import annotations

import cProfile
import os
import shutil
import sqlite3
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

import psycopg
from psycopg import sql

from eventstore.bootstrap import Ledger, bootstrap
from eventstore.clock import SimulatedClock

T = TypeVar("T")
RawRow = tuple[uuid.UUID, int, str, bytes]
"""One stored event as the recorders write it: originator id, version, topic, state bytes."""

RAW_SQLITE_TABLE_DDL = (
    "CREATE TABLE stored_events (originator_id TEXT, originator_version INTEGER, topic TEXT, state BLOB, "
    "PRIMARY KEY (originator_id, originator_version))"
)
"""The library's SQLite application table (``SQLiteApplicationRecorder``), notification id = rowid."""
RAW_PG_TABLE = "stored_events"
RAW_PG_TYPES = ["uuid", "int8", "text", "bytea"]


# --- timing -----------------------------------------------------------------------------------------


def log(message: str) -> None:
    """Progress goes to stderr so ``--json`` output stays clean."""
    print(message, file=sys.stderr, flush=True)


def timed(fn: Callable[[], T], profiler: cProfile.Profile | None = None) -> tuple[T, float]:
    """Run ``fn``; return its result and its wall time in seconds (under ``profiler`` when given)."""
    if profiler is not None:
        profiler.enable()
    start_s = time.perf_counter()
    try:
        result = fn()
    finally:
        elapsed_s = time.perf_counter() - start_s
        if profiler is not None:
            profiler.disable()
    return result, elapsed_s


# --- stores -----------------------------------------------------------------------------------------


class Target(Protocol):
    """A fresh ledger store for one variant, plus the raw baseline on the same kind of database."""

    store: str

    def open_ledger(self, clock: SimulatedClock, name: str = "ledger") -> Ledger:
        """A fresh ledger store (``name`` tells a second one of the same variant apart)."""
        ...

    def ledger_settings(self, ledger: Ledger) -> dict[str, str]: ...

    def raw_insert(self, chunks: Sequence[Sequence[RawRow]], name: str = "raw") -> tuple[float, dict[str, str]]:
        """Insert the rows of ``chunks`` into an empty table named by ``name``, one transaction per chunk (the
        baseline: one chunk); return (seconds, effective settings)."""
        ...

    def cleanup(self) -> None: ...

    def location(self) -> str:
        """Where the stores are (for ``--keep``)."""
        ...


def _use_key_file(path: Path) -> None:
    """Keys of a fresh store go beside it, never into the working directory or a configured keystore."""
    os.environ["JAMSOS_KEY_FILE"] = str(path)
    os.environ.pop("JAMSOS_KEYSTORE", None)


class SQLiteTarget:
    """A ledger file and a raw file in their own directory under the work directory."""

    store = "sqlite"

    def __init__(self, workdir: Path, variant: str) -> None:
        self.directory = workdir / f"sqlite-{variant}"
        self.directory.mkdir(parents=True, exist_ok=False)

    def open_ledger(self, clock: SimulatedClock, name: str = "ledger") -> Ledger:
        _use_key_file(self.directory / f"{name}.key")
        return bootstrap(f"sqlite:///{self.directory / f'{name}.db'}", clock=clock)

    def ledger_settings(self, ledger: Ledger) -> dict[str, str]:
        datastore: Any = ledger.store.recorder.datastore
        with datastore.transaction(commit=False) as cursor:
            return {f"ledger_{k}": v for k, v in _sqlite_pragmas(cursor).items()}

    def raw_insert(self, chunks: Sequence[Sequence[RawRow]], name: str = "raw") -> tuple[float, dict[str, str]]:
        # what the library binds: the id as 32 hex digits (built before timing: the baseline is the database)
        params = [[(oid.hex, version, topic, state) for oid, version, topic, state in rows] for rows in chunks]
        conn = _sqlite_connect_like_library(self.directory / f"{name}.db")
        try:
            conn.execute(RAW_SQLITE_TABLE_DDL)
            settings = {f"raw_{k}": v for k, v in _sqlite_pragmas(conn.cursor()).items()}
            _, raw_s = timed(lambda: _sqlite_insert_transactions(conn, params))
        finally:
            conn.close()
        return raw_s, settings

    def cleanup(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)

    def location(self) -> str:
        return str(self.directory)


def _sqlite_connect_like_library(path: Path) -> sqlite3.Connection:
    """The connection ``eventsourcing.sqlite.SQLiteConnectionPool`` makes: autocommit mode, WAL journal.

    The library sets no other pragma, so ``synchronous`` stays at SQLite's default (FULL).
    """
    conn = sqlite3.connect(str(path), uri=True, check_same_thread=False, isolation_level=None,
                           cached_statements=True)
    conn.execute("PRAGMA journal_mode=WAL;")
    return conn


def _sqlite_insert_transactions(conn: sqlite3.Connection,
                                chunks: Sequence[Sequence[tuple[str, int, str, bytes]]]) -> None:
    """Per chunk: explicit BEGIN (autocommit mode, as the library does), one ``executemany``, COMMIT."""
    cursor = conn.cursor()
    for params in chunks:
        cursor.execute("BEGIN")
        cursor.executemany("INSERT INTO stored_events VALUES (?,?,?,?)", params)
        conn.commit()


def _sqlite_pragmas(cursor: Any) -> dict[str, str]:
    values = {}
    for pragma in ("journal_mode", "synchronous"):
        cursor.execute(f"PRAGMA {pragma}")
        values[pragma] = str(cursor.fetchone()[0])
    return values


class PostgresTarget:
    """A fresh schema for the ledger and another for the raw table; both dropped by ``cleanup``."""

    store = "postgres"

    def __init__(self, workdir: Path, variant: str, pg_url: str) -> None:
        token = uuid.uuid4().hex[:10]
        self.pg_url = pg_url
        self.key_file = workdir / f"postgres-{variant}.key"
        self.ledger_schema = f"bench_{variant}_{token}"
        self.raw_schema = f"bench_raw_{variant}_{token}"
        self.extra_schemas: set[str] = set()

    def open_ledger(self, clock: SimulatedClock, name: str = "ledger") -> Ledger:
        schema = self.ledger_schema if name == "ledger" else f"{self.ledger_schema}_{name}"
        self.extra_schemas.add(schema)
        _use_key_file(self.key_file if name == "ledger" else self.key_file.with_suffix(f".{name}.key"))
        sep = "&" if "?" in self.pg_url else "?"
        return bootstrap(f"{self.pg_url}{sep}schema={schema}", clock=clock)

    def ledger_settings(self, ledger: Ledger) -> dict[str, str]:
        with psycopg.connect(self.pg_url) as conn:
            return {f"server_{k}": v for k, v in _pg_settings(conn).items()}

    def raw_insert(self, chunks: Sequence[Sequence[RawRow]], name: str = "raw") -> tuple[float, dict[str, str]]:
        schema = self.raw_schema if name == "raw" else f"{self.raw_schema}_{name}"
        self.extra_schemas.add(schema)
        with psycopg.connect(self.pg_url) as conn:
            _create_raw_pg_table(conn, schema)
            conn.commit()
            settings = {f"raw_{k}": v for k, v in _pg_settings(conn).items()}
            _, raw_s = timed(lambda: _pg_copy_transactions(conn, schema, chunks))
        return raw_s, settings

    def cleanup(self) -> None:
        with psycopg.connect(self.pg_url, autocommit=True) as conn:
            for schema in (self.ledger_schema, self.raw_schema, *sorted(self.extra_schemas)):
                conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
        for key_file in self.key_file.parent.glob(f"{self.key_file.stem}*.key"):
            key_file.unlink(missing_ok=True)

    def location(self) -> str:
        return f"schemas {self.ledger_schema} and {self.raw_schema} (key file {self.key_file})"


def _create_raw_pg_table(conn: psycopg.Connection[Any], schema: str) -> None:
    """The library's application table (``PostgresApplicationRecorder``): same columns, keys and index."""
    table = sql.Identifier(schema, RAW_PG_TABLE)
    conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    conn.execute(sql.SQL(
        "CREATE TABLE {} (originator_id uuid NOT NULL, originator_version bigint NOT NULL, topic text, "
        "state bytea, notification_id bigserial, PRIMARY KEY (originator_id, originator_version)) "
        "WITH (autovacuum_enabled = true, autovacuum_vacuum_threshold = 100000000, "
        "autovacuum_vacuum_scale_factor = 0.5, autovacuum_analyze_threshold = 1000, "
        "autovacuum_analyze_scale_factor = 0.01)"
    ).format(table))
    conn.execute(sql.SQL("CREATE UNIQUE INDEX {} ON {} (notification_id ASC)").format(
        sql.Identifier(f"{RAW_PG_TABLE}_notification_id_idx"), table))


def _pg_copy_transactions(conn: psycopg.Connection[Any], schema: str, chunks: Sequence[Sequence[RawRow]]) -> None:
    """Per chunk: psycopg 3 binary COPY of its rows, then COMMIT."""
    statement = sql.SQL(
        "COPY {} (originator_id, originator_version, topic, state) FROM STDIN WITH (FORMAT BINARY)"
    ).format(sql.Identifier(schema, RAW_PG_TABLE))
    for rows in chunks:
        with conn.cursor() as cursor, cursor.copy(statement) as copy:
            copy.set_types(RAW_PG_TYPES)
            for row in rows:
                copy.write_row(row)
        conn.commit()


def _pg_settings(conn: psycopg.Connection[Any]) -> dict[str, str]:
    values = {}
    for name in ("server_version", "synchronous_commit", "fsync"):
        row = conn.execute(sql.SQL("SHOW {}").format(sql.Identifier(name))).fetchone()
        values[name] = str(row[0]) if row else "?"
    return values

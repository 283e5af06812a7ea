"""A SQLite store opened for reading only, without the write side: what the read-only report path needs.

:func:`open_serving` opens the store, its key file and key table, and its views database as they are, and gives a
:class:`ServingStore` only when a full open (``eventstore.bootstrap``) and a catch-up (``projections.runner``) would
have nothing to do: every file there and private as required, the key file of the key table's epoch, the tables of
the store, the key table and the ``registers`` generation there, the ``registers`` at the schema version of the code
and at the log's head. Anything else raises :class:`NotServing`, and the caller takes the full path, which creates,
completes, catches up — or refuses — as it always did. Nothing here writes: the views connections are
``query_only``, and no file is created (SQLite is opened ``mode=rw``).

What it reads: the log's head (the largest position), an aggregate's snapshot state (``jamsos_snapshots``, only
when no event is newer than it: else :class:`NotServing`), the ``registers`` position, and the serving tables
themselves (:class:`ServingRegisters`, reflected: the same columns and types as ``projections.registers``).

Light: the standard library and SQLAlchemy Core, nothing of ``eventsourcing``, pydantic or the projections'
runner (a test checks the import).
"""

from __future__ import annotations

import base64
import binascii
import json
import sqlite3
import uuid
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import BigInteger, Column, Integer, MetaData, String, Table, Text, create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.sql.selectable import Subquery
from sqlalchemy.types import TypeEngine

from projections.chain_counts import CHAIN_COUNT_TABLES
from projections.paid_runs import PAID_TABLES, paid_rows

DEFAULT_STORE = "jamsos.db"
"""``eventstore.settings.DEFAULT_STORE`` (a test checks they agree): the store when none is named."""
REGISTERS = "registers"
REGISTERS_VERSION = 16
"""``projections.registers.Registers.version`` (tests/test_light_read.py checks they agree): serving tables of
another version are rebuilt by the full path before they are read."""
REGISTER_TABLES = ("agreements", "members", "spells", "segments", "claims", "workforce", "budgets", *PAID_TABLES,
                   *CHAIN_COUNT_TABLES)
"""The tables of one ``registers`` generation (``<name>_g<generation>``)."""
POSITIONS_TABLE = "jamsos_projection_positions"
STORE_TABLES = ("stored_events", "jamsos_snapshots", "jamsos_snapshot_states", "jamsos_chain")
"""What ``eventstore.store_sql.SQLiteStore`` creates when missing (the chain links an older store's events)."""
KEY_TABLES = ("jamsos_member_keys", "jamsos_key_epochs")
KEY_BYTES = 32
VIEWS_CACHE_KIB = 256 * 1024
"""The page cache of a views connection, as ``projections.runner`` gives its own (an upper bound)."""


class NotServing(Exception):
    """This store cannot be read here as the full path would read it (the reason says why): take the full path."""


@dataclass(frozen=True, slots=True)
class StorePaths:
    """The files of a SQLite store: the events, the key file, the member-key table, the views."""

    store: Path
    key_file: Path
    keys: Path
    views: Path


def sqlite_paths(url: str, key_file: str | None) -> StorePaths:
    """The files of store ``url`` (a SQLite path or ``sqlite:///`` URL, as ``StoreSettings.from_url`` reads it),
    with the key file ``key_file`` (``JAMSOS_KEY_FILE``) or the one beside the store; :class:`NotServing` for any
    other store (memory, PostgreSQL) or a URL the full path refuses."""
    url = url.strip()
    if url.startswith(("memory:", "postgresql://", "postgres://")):
        raise NotServing("not a SQLite store")
    if url.startswith("sqlite:"):
        path = url.removeprefix("sqlite:///")
        if not path or path == url:
            raise NotServing("a SQLite URL without a file")
    elif "://" in url:
        raise NotServing("an unsupported store URL")
    else:
        path = url
    store = Path(path)
    return StorePaths(store, Path(key_file) if key_file else store.with_suffix(".key"),
                      store.with_suffix(".keys.db"), store.with_suffix(".views.db"))


def _uri(path: Path) -> str:
    """The URI opening an existing SQLite file without creating it."""
    return f"file:{quote(str(path))}?mode=rw"


def _connect(path: Path) -> sqlite3.Connection:
    """An existing SQLite file, never created here."""
    if not path.is_file():
        raise NotServing(f"{path} does not exist")
    try:
        return sqlite3.connect(_uri(path), uri=True, isolation_level=None)
    except sqlite3.Error as exc:
        raise NotServing(f"{path}: {exc}") from None


def _tables(conn: sqlite3.Connection) -> set[str]:
    return {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def key_file_epoch(path: Path) -> int:
    """The master-key epoch of a key file the full path would accept (private, of the right form)."""
    if not path.is_file() or path.stat().st_mode & 0o077 or path.with_name(path.name + ".next").exists():
        raise NotServing("the key file is missing, not private, or a rotation is pending")
    try:
        data = json.loads(path.read_text())
        master, pepper = base64.b64decode(data["master_key"]), base64.b64decode(data["pepper"])
        epoch = int(data.get("epoch", 0))
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise NotServing("the key file is not a jamsos key file") from None
    if len(master) != KEY_BYTES or len(pepper) != KEY_BYTES or epoch < 0:
        raise NotServing("the key file is not a jamsos key file")
    return epoch


def _views_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA query_only = ON")
    cursor.execute(f"PRAGMA cache_size = -{VIEWS_CACHE_KIB}")
    cursor.close()


def column_type(declared: str) -> TypeEngine[Any]:
    """The SQLAlchemy type of a column SQLite declares so (as ``projections.registers`` declares its columns:
    ``VARCHAR(n)``, ``TEXT``, ``BIGINT``, ``INTEGER``); :class:`NotServing` for any other."""
    declared = declared.upper()
    if declared.startswith("VARCHAR(") and declared.endswith(")") and declared[8:-1].isdigit():
        return String(int(declared[8:-1]))
    simple: dict[str, TypeEngine[Any]] = {"TEXT": Text(), "BIGINT": BigInteger(), "INTEGER": Integer()}
    if declared not in simple:
        raise NotServing(f"a register column of type {declared}")
    return simple[declared]


class ServingRegisters:
    """The serving generation of the ``registers`` tables, read from the views database's own description of
    them (``PRAGMA table_info``: a reflection in one statement per table): ``table(name)`` as
    ``projections.registers.Registers.table`` gives it (what :class:`projections.facts.Facts` reads)."""

    def __init__(self, engine: Engine, generation: int) -> None:
        self.generation = generation
        self._paid_rows: dict[str, Subquery] = {}
        metadata = MetaData()
        self.tables: dict[str, Table] = {}
        with engine.connect() as conn:
            for name in REGISTER_TABLES:
                table = f"{name}_g{generation}"
                columns = conn.exec_driver_sql(f"PRAGMA table_info({table})").all()
                if not columns:
                    raise NotServing(f"no table {table}")
                self.tables[name] = Table(table, metadata, *(Column(c[1], column_type(c[2])) for c in columns))

    def table(self, name: str) -> Table:
        return self.tables[name]

    def paid_rows(self, shape: str = "rows") -> Subquery:
        """Every member-period paid, one row each, joined from the paid runs (as ``Registers.paid_rows``)."""
        if shape not in self._paid_rows:
            self._paid_rows[shape] = paid_rows(self.tables, shape)
        return self._paid_rows[shape]


class ServingStore:
    """A SQLite store whose ``registers`` serve the log's head: see the module. Close it (or use ``with``)."""

    def __init__(self, paths: StorePaths) -> None:
        self.paths = paths
        self._events: sqlite3.Connection | None = None
        self.engine: Engine | None = None
        try:
            self._open()
        except BaseException:
            self.close()
            raise

    def _open(self) -> None:
        self._check_keys()
        self._events = _connect(self.paths.store)
        missing = set(STORE_TABLES) - _tables(self._events)
        if missing:
            raise NotServing(f"the store has no {', '.join(sorted(missing))} yet")
        self.head = int(self._events.execute("SELECT MAX(rowid) FROM stored_events").fetchone()[0] or 0)
        self.registers, self.position = self._serving_registers()

    def _check_keys(self) -> None:
        epoch = key_file_epoch(self.paths.key_file)
        keys = _connect(self.paths.keys)
        try:
            if set(KEY_TABLES) - _tables(keys):
                raise NotServing("the key table is not there yet")
            columns = {row[1] for row in keys.execute("PRAGMA table_info(jamsos_member_keys)")}
            (table_epoch,) = keys.execute("SELECT COALESCE(MAX(epoch), 0) FROM jamsos_key_epochs").fetchone()
        finally:
            keys.close()
        if "epoch" not in columns or int(table_epoch) != epoch:
            raise NotServing("the key table is of another epoch than the key file")

    def _serving_registers(self) -> tuple[ServingRegisters, int]:
        views = _connect(self.paths.views)
        try:
            tables = _tables(views)
            if POSITIONS_TABLE not in tables:
                raise NotServing("no projection has run yet")
            row = views.execute(f"SELECT generation, schema_version, position FROM {POSITIONS_TABLE} "
                                "WHERE name = ?", [REGISTERS]).fetchone()
        finally:
            views.close()
        if row is None or int(row[1]) != REGISTERS_VERSION:
            raise NotServing("the registers are not at the code's version")
        generation, position = int(row[0]), int(row[2])
        if position != self.head:
            raise NotServing(f"the registers are at position {position}, the log at {self.head}")
        if {f"{name}_g{generation}" for name in REGISTER_TABLES} - tables:
            raise NotServing("the registers' tables are not all there")
        path = self.paths.views
        self.engine = create_engine(f"sqlite:///{path}", creator=lambda: sqlite3.connect(
            _uri(path), uri=True, check_same_thread=False))
        event.listen(self.engine, "connect", _views_pragmas)
        return ServingRegisters(self.engine, generation), position

    def snapshot_state(self, aggregate_id: uuid.UUID, kind: str) -> dict[str, Any] | None:
        """The state of aggregate ``aggregate_id`` (of ``kind``) as its snapshot holds it, None if it has no
        event at all; :class:`NotServing` if an event is newer than its snapshot, or it has events but no
        snapshot of that kind (the full path replays them)."""
        assert self._events is not None
        db_id = aggregate_id.hex
        found = self._events.execute(
            "SELECT s.kind, s.version, st.state FROM jamsos_snapshots s JOIN jamsos_snapshot_states st "
            "ON st.state_hash = s.state_hash WHERE s.aggregate_id = ?", [db_id]).fetchone()
        after = int(found[1]) if found is not None and found[0] == kind else 0
        (newer,) = self._events.execute("SELECT COUNT(*) FROM stored_events WHERE originator_id = ? "
                                        "AND originator_version > ?", [db_id, after]).fetchone()
        if newer:
            raise NotServing(f"{kind} {aggregate_id} has events after its snapshot")
        if found is None or found[0] != kind:
            return None
        state: dict[str, Any] = json.loads(zlib.decompress(bytes(found[2])))
        return state

    def close(self) -> None:
        if self._events is not None:
            self._events.close()
            self._events = None
        if self.engine is not None:
            self.engine.dispose()
            self.engine = None

    def __enter__(self) -> ServingStore:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def open_serving(paths: StorePaths) -> ServingStore:
    """The store of ``paths`` if its ``registers`` serve the log's head (else :class:`NotServing`)."""
    return ServingStore(paths)

"""Projection runner: read the log in order from a tracked position, write view rows and the new position
in one transaction (exactly-once), poll on SQLite (the library cannot subscribe there), resume after a crash.

Invariants:
- A batch's view rows and its position commit together or not at all: a crash between batches never
  double-counts, and a restart resumes after the last committed position.
- A failing event stops only its projection; the error and its position are recorded, the position does
  not move past it.
- Rebuild writes into fresh tables (a new generation suffix) while the active ones keep serving, then
  switches the active generation in one transaction once caught up; the stable SQL views
  (``projections.sql_views``) switch in that same transaction.
"""

from __future__ import annotations

import abc
import os
import time
import weakref
from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

import orjson
from eventsourcing.utils import resolve_topic
from sqlalchemy import (
    BigInteger,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    event,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.schema import CreateTable
from sqlalchemy.sql.expression import TableClause

from eventstore.engines import open_engine
from eventstore.files import private_file
from eventstore.gc_pause import paused_gc
from eventstore.mapper import upcast_data
from eventstore.store import LedgerStore

BATCH_SIZE = int(os.environ.get("JAMSOS_PROJECTION_BATCH", "5000"))
REBUILD_BATCH_SIZE = int(os.environ.get("JAMSOS_REBUILD_BATCH", "20000"))
"""A rebuild's tables serve nobody yet: larger batches, fewer commits."""
BATCH_SIZE_MAX = 200_000
VIEWS_CACHE_KIB = 256 * 1024
"""SQLite page cache of a views connection (an upper bound: pages are allocated as used)."""
POLL_S = 0.5
WAL_SIZE_LIMIT_BYTES = 64 * 1024 * 1024
POSITIONS_TABLE = "jamsos_projection_positions"


class Envelope(NamedTuple):
    """One event as projections see it: its global position, stream, type and decoded JSON."""

    position: int
    originator_id: str
    originator_version: int
    event_type: str
    data: dict[str, Any]
    state: bytes
    """The canonical JSON bytes (``data`` decoded from them)."""


_EVENT_TYPES: dict[str, tuple[str, int]] = {}
"""Topic → (event type name, current class version): ``ledger.events:ContributionPaid`` → ``ContributionPaid``."""


def _event_type(topic: str) -> tuple[str, int]:
    try:
        cls = resolve_topic(topic)
    except Exception:  # not a ledger event class (a foreign or tampered row): passed on as it is
        return topic.rsplit(":", 1)[-1], 1
    return topic.rsplit(":", 1)[-1], int(getattr(cls, "class_version", 1))


def read_envelopes(store: LedgerStore, after: int, limit: int, until: int | None = None) -> list[Envelope]:
    """The events after position ``after`` (up to ``limit``, not after ``until``), decoded once; an event stored
    in an older shape is upcast to its class's current one (``eventstore.mapper.upcast_data``)."""
    types = _EVENT_TYPES
    loads = orjson.loads
    out = []
    for position, aggregate_id, version, topic, state in store.read_log(after, limit, until):
        known = types.get(topic)
        if known is None:
            known = types[topic] = _event_type(topic)
        kind, current = known
        data = loads(state)
        if current > 1 and data.get("class_version", 1) < current:
            data = upcast_data(resolve_topic(topic), data)
        out.append(Envelope(position, aggregate_id, version, kind, data, state))
    return out


def insert_rows(conn: Connection, table: TableClause, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Append ``rows`` (tuples in ``columns`` order) to ``table`` inside the caller's transaction, at the
    driver's speed: PostgreSQL ``COPY``, SQLite ``executemany``. New rows only (no upsert)."""
    if not rows:
        return
    names = ", ".join(columns)
    if conn.dialect.name == "postgresql":
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        with cursor.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:
            write_row = copy.write_row  # psycopg's own row formatting (C): ~4x a Python join of escaped text
            for row in rows:
                write_row(row)
        return
    marks = ", ".join("?" * len(columns))
    conn.exec_driver_sql(f"INSERT INTO {table.name} ({names}) VALUES ({marks})", list(rows))


def _position_of(envelope: Envelope) -> int:
    return envelope.position


class Projection(abc.ABC):
    """A read model built from the log. Subclasses define tables (per generation) and ``apply``."""

    name: ClassVar[str]
    version: ClassVar[int] = 1
    """Bump when the tables or their meaning change: the runner then rebuilds into a new generation."""

    def __init__(self, generation: int) -> None:
        self.generation = generation
        self.metadata = MetaData()
        self.define(self.metadata, f"_g{generation}")

    @abc.abstractmethod
    def define(self, metadata: MetaData, suffix: str) -> None:
        """Declare this generation's tables on ``metadata`` (names end with ``suffix``)."""

    @abc.abstractmethod
    def apply(self, conn: Connection, batch: Sequence[Envelope]) -> None:
        """Write the view rows for ``batch`` (inside the runner's transaction)."""

    def table(self, name: str) -> Table:
        return self.metadata.tables[f"{name}_g{self.generation}"]

    def create_tables(self, engine: Engine, *, indexes: bool = True) -> None:
        """Create this generation's tables; a rebuild leaves the secondary indexes for after its load."""
        with engine.begin() as conn:
            for table in self.metadata.sorted_tables:
                conn.execute(CreateTable(table, if_not_exists=True))
        if indexes:
            self.create_indexes(engine)

    def create_indexes(self, engine: Engine) -> None:
        with engine.begin() as conn:
            for table in self.metadata.sorted_tables:
                for index in table.indexes:
                    index.create(conn, checkfirst=True)


tracking = MetaData()
positions = Table(
    POSITIONS_TABLE,
    tracking,
    Column("name", String(64), primary_key=True),
    Column("generation", Integer, nullable=False, default=1),
    Column("schema_version", Integer, nullable=False, default=1),
    Column("position", BigInteger, nullable=False, default=0),
    Column("building_generation", Integer),
    Column("building_position", BigInteger),
    Column("updated_at", String(40)),
    Column("last_error", Text),
    Column("error_position", BigInteger),
)


_ENGINES: weakref.WeakKeyDictionary[LedgerStore, Engine] = weakref.WeakKeyDictionary()
_READY: weakref.WeakKeyDictionary[Engine, set[tuple[str, int, int]]] = weakref.WeakKeyDictionary()
"""Per views engine, the (projection, generation, version) whose tables this process has already created: a report
opening its runners again skips that DDL. A generation switched by any process is a new key."""


def views_engine(store: LedgerStore) -> Engine:
    """The engine of the read models next to ``store`` (see ``StoreSettings.default_views_url``); one per
    store, so an in-memory store keeps one in-memory view database."""
    engine = _ENGINES.get(store)
    if engine is None:
        url = store.settings.default_views_url()
        if url == "sqlite://":
            engine = memory_views_engine()
        else:
            engine = open_engine(url)
            if engine.dialect.name == "sqlite":
                if engine.url.database and engine.url.database != ":memory:":
                    private_file(Path(engine.url.database))  # docs/rules.md#file-modes
                _listen_sqlite_views(engine)
        _ENGINES[store] = engine
        store.on_close(engine.dispose)
    return engine


def memory_views_engine() -> Engine:
    """A private in-memory views database (read models rebuilt up to an earlier position for ``--as-of``)."""
    engine = open_engine("sqlite://")
    _listen_sqlite_views(engine)
    return engine


def _listen_sqlite_views(engine: Engine) -> None:
    event.listen(engine, "connect", _sqlite_views_pragmas)
    event.listen(engine, "checkin", _sqlite_autocheckpoint_default)


WAL_AUTOCHECKPOINT_PAGES = 1000
"""SQLite's default: a commit that leaves more pages than this in the WAL copies them into the database."""
REBUILD_WAL_CHECKPOINT_PAGES = int(os.environ.get("JAMSOS_REBUILD_WAL_PAGES", str(256 * 1024)))
"""A rebuild's commits copy the WAL into the database only once it holds this many pages (1 GiB of 4 KiB pages):
a rebuild of up to a few million events never checkpoints before its end, and a province's (a views database of
many GB) keeps its WAL near 1 GiB instead of holding the whole new generation twice on disk, WAL and file."""


def _sqlite_autocheckpoint_default(dbapi_connection: Any, _record: Any) -> None:
    """Every connection goes back to the pool with automatic checkpoints on (a rebuild's batches turn them
    off for their own commits: see ``advance``)."""
    if dbapi_connection is not None:
        dbapi_connection.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")


def _sqlite_views_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """Views are derived and rebuildable, and each batch commits its rows with its position: WAL with
    synchronous=NORMAL keeps that atomic (a power cut can only lose the last batches, which are then simply
    applied again) and saves a disk sync per batch. The event store itself keeps synchronous=FULL."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA cache_size=-{VIEWS_CACHE_KIB}")  # a rebuild's batch fits without spilling pages
    # a rebuild grows the WAL up to REBUILD_WAL_CHECKPOINT_PAGES before it is copied: give the disk back once
    # the WAL restarts
    cursor.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT_BYTES}")
    cursor.close()


class ProjectionRunner:
    """Drives one projection over the store's notification log."""

    def __init__(self, store: LedgerStore, engine: Engine, factory: Callable[[int], Projection]) -> None:
        self.store = store
        self.engine = engine
        self.factory = factory
        self.name = factory(1).name
        version = factory(1).version
        ready = _READY.setdefault(engine, set())
        if not ready:
            tracking.create_all(engine)
        with engine.begin() as conn:
            if conn.execute(select(positions.c.name).where(positions.c.name == self.name)).first() is None:
                conn.execute(insert(positions).values(name=self.name, generation=1, position=0,
                                                      schema_version=version))
            row = self._row(conn)
        stale = row.schema_version != version
        self.active = factory(int(row.generation))
        key = (self.name, int(row.generation), version)
        if key not in ready or stale:  # tables this process has not made sure of yet
            self.active.create_tables(engine)
        if stale:  # the code's tables differ from the stored ones: rebuild before serving
            self.rebuild()
        else:
            with engine.begin() as conn:
                refresh_sql_views(conn, [self.name])
            ready.add(key)

    # --- status --------------------------------------------------------------------------------

    def _row(self, conn: Connection) -> Any:
        return conn.execute(select(positions).where(positions.c.name == self.name)).one()

    @property
    def generation(self) -> int:
        with self.engine.connect() as conn:
            return int(self._row(conn).generation)

    def status(self) -> dict[str, Any]:
        with self.engine.connect() as conn:
            row = self._row(conn)
        head = self.store.max_notification_id()
        return {
            "projection": self.name,
            "generation": row.generation,
            "position": row.position,
            "head": head,
            "lag": max(head - row.position, 0),
            "updated_at": row.updated_at,
            "last_error": row.last_error,
            "error_position": row.error_position,
            "rebuilding": row.building_generation,
        }

    # --- processing ----------------------------------------------------------------------------

    def _envelopes(self, after: int, limit: int, until: int | None = None) -> list[Envelope]:
        return read_envelopes(self.store, after, limit, until)

    def _position(self, conn: Connection, position_col: str) -> int:
        return int(getattr(self._row(conn), position_col) or 0)

    def step(self, batch_size: int = BATCH_SIZE, until: int | None = None) -> int:
        """Process one batch (at most ``batch_size`` events); returns how many it applied (0 at the head)."""
        result = advance([Target(self, self.active, "position")], batch_size, until)
        if result.failed:
            raise result.failed[0]
        return result.applied.get(self.name, 0)

    def _commit(self, conn: Connection, target: Target, batch: Sequence[Envelope], after: int) -> int:
        """Inside the caller's transaction: apply the part of ``batch`` after ``after`` and move the position;
        returns how many events it applied."""
        current = self._position(conn, target.position_col)
        assert current == after, f"{self.name}: another runner moved the position ({after} → {current})"
        part = batch[bisect_right(batch, after, key=_position_of):]
        if not part:
            return 0
        target.projection.apply(conn, part)
        conn.execute(
            update(positions)
            .where(positions.c.name == self.name)
            .values({target.position_col: part[-1].position, "updated_at": _now(), "last_error": None,
                     "error_position": None})
        )
        return len(part)

    def _record_error(self, batch: Sequence[Envelope], projection: Projection, exc: Exception) -> None:
        # find the failing event: re-apply one by one in throw-away transactions
        failing = batch[0].position
        for envelope in batch:
            try:
                with self.engine.connect() as conn, conn.begin() as tx:
                    projection.apply(conn, [envelope])
                    tx.rollback()
            except Exception:
                failing = envelope.position
                break
        with self.engine.begin() as conn:
            conn.execute(update(positions).where(positions.c.name == self.name)
                         .values(last_error=f"{type(exc).__name__}: {exc}"[:2000], error_position=failing))

    def catch_up(
        self, batch_size: int = BATCH_SIZE, progress: Callable[[int], None] | None = None, until: int | None = None
    ) -> int:
        """Process to the current head (or to position ``until``); returns the number of events applied."""
        return ProjectionGroup([self]).catch_up(batch_size, progress, until)[self.name]

    def follow(self, poll_s: float = POLL_S, stop: Callable[[], bool] = lambda: False) -> None:
        """Keep processing new events as they arrive (until ``stop()``)."""
        ProjectionGroup([self]).follow(poll_s, stop)

    def rebuild(self, batch_size: int = REBUILD_BATCH_SIZE) -> int:
        """Build a new generation from position 0 beside the active one, then switch to it."""
        return ProjectionGroup([self]).rebuild(batch_size)[self.name]

    def _start_rebuild(self) -> Projection:
        """Register a new generation and create its tables (secondary indexes come after the load)."""
        with self.engine.begin() as conn:
            row = self._row(conn)
            new_generation = int(row.building_generation or row.generation + 1)
            conn.execute(update(positions).where(positions.c.name == self.name)
                         .values(building_generation=new_generation, building_position=0))
        fresh = self.factory(new_generation)
        fresh.metadata.drop_all(self.engine)
        fresh.create_tables(self.engine, indexes=False)
        return fresh

    def _switch(self, conn: Connection, fresh: Projection) -> None:
        """Inside the caller's transaction: make the rebuilt generation the active one."""
        row = self._row(conn)
        conn.execute(update(positions).where(positions.c.name == self.name).values(
            generation=fresh.generation, position=row.building_position, building_generation=None,
            building_position=None, updated_at=_now(), schema_version=fresh.version))


@dataclass(frozen=True, slots=True)
class Target:
    """One projection of one runner, and which of its positions a pass advances."""

    runner: ProjectionRunner
    projection: Projection
    position_col: str  # "position" (serving) or "building_position" (a rebuild)


@dataclass(slots=True)
class Pass:
    """What one ``advance`` did: events read (0 at the head), applied per projection, and failures."""

    read: int
    applied: dict[str, int] = field(default_factory=dict)
    failed: list[ProjectionFailed] = field(default_factory=list)


def advance(targets: Sequence[Target], batch_size: int, until: int | None = None) -> Pass:
    """Read one batch after the lowest position of ``targets`` (once, for all of them) and apply to each
    its part, with every view row and every new position in one transaction.

    If a projection fails, the transaction is rolled back and the batch is run again one projection at a
    time, so only the failing one stops: its error and the failing position are recorded, its position does
    not move, and the failure is returned in ``Pass.failed``."""
    assert targets and 0 < batch_size <= BATCH_SIZE_MAX
    engine = targets[0].runner.engine
    with engine.connect() as conn:
        after = {t.runner.name: t.runner._position(conn, t.position_col) for t in targets}
    with paused_gc():
        batch = targets[0].runner._envelopes(min(after.values()), batch_size, until)
    if not batch:
        return Pass(0)
    try:
        with paused_gc(), engine.begin() as conn:
            if conn.dialect.name == "sqlite" and all(t.position_col == "building_position" for t in targets):
                # a rebuild's tables serve nobody yet: its commits append to the WAL and copy it into the
                # database only when it is large (and once at the end), not each batch's pages with a sync
                conn.exec_driver_sql(f"PRAGMA wal_autocheckpoint={REBUILD_WAL_CHECKPOINT_PAGES}")
            applied = {t.runner.name: t.runner._commit(conn, t, batch, after[t.runner.name]) for t in targets}
        return Pass(len(batch), applied)
    except Exception as exc:
        if len(targets) == 1:
            (target,) = targets
            target.runner._record_error(batch, target.projection, exc)
            failed = ProjectionFailed(target.runner.name, batch[0].position, exc)
            failed.__cause__ = exc
            return Pass(len(batch), {}, [failed])
    result = Pass(len(batch))
    for target in targets:  # one at a time, to the end of this batch
        name = target.runner.name
        result.applied[name] = 0
        while True:
            one = advance([target], batch_size, batch[-1].position)
            result.applied[name] += one.applied.get(name, 0)
            result.failed += one.failed
            if one.read == 0 or one.failed:
                break
    return result


class ProjectionGroup:
    """Several projections fed from one read of the log: each batch is read and decoded once (the read is
    the larger part of a rebuild), and each projection behind the batch's end applies its part.

    Invariants: those of ``advance`` per batch; a failed projection is left out of later batches while the
    others go on to the head, then the first failure is raised."""

    def __init__(self, runners: Sequence[ProjectionRunner]) -> None:
        assert runners, "no projections"
        assert len({r.engine for r in runners}) == 1, "one transaction needs one views database"
        self.runners = list(runners)

    def _run(self, targets: list[Target], batch_size: int, progress: Callable[[int], None] | None,
             until: int | None) -> dict[str, int]:
        done = dict.fromkeys((t.runner.name for t in targets), 0)
        failures: list[ProjectionFailed] = []
        batches = 0
        while targets:
            step = advance(targets, batch_size, until)
            if step.read == 0:
                break
            batches += 1
            if batches & (batches - 1) == 0 and all(t.position_col == "building_position" for t in targets):
                analyze(targets[0].runner.engine, [t.projection for t in targets])  # after batch 1, 2, 4, 8, ...
            for name, n in step.applied.items():
                done[name] += n
            if step.failed:
                failures += step.failed
                stopped = {f.name for f in step.failed}
                targets = [t for t in targets if t.runner.name not in stopped]
            if progress:
                progress(step.read)
        if failures:
            raise failures[0]
        return done

    def catch_up(self, batch_size: int = BATCH_SIZE, progress: Callable[[int], None] | None = None,
                 until: int | None = None) -> dict[str, int]:
        """Every projection to the head (or to ``until``); events applied per projection."""
        return self._run([Target(r, r.active, "position") for r in self.runners], batch_size, progress, until)

    def follow(self, poll_s: float = POLL_S, stop: Callable[[], bool] = lambda: False) -> None:
        while not stop():
            if not any(self.catch_up().values()):
                time.sleep(poll_s)

    def rebuild(self, batch_size: int = REBUILD_BATCH_SIZE,
                progress: Callable[[int], None] | None = None) -> dict[str, int]:
        """New generations of every projection from position 0, read once, then one switch for all."""
        fresh = {r.name: r._start_rebuild() for r in self.runners}
        targets = [Target(r, fresh[r.name], "building_position") for r in self.runners]
        engine = self.runners[0].engine
        done = dict.fromkeys(fresh, 0)
        while True:
            for name, n in self._run(targets, batch_size, progress, None).items():
                done[name] += n
            _checkpoint(engine)
            for projection in fresh.values():
                projection.create_indexes(engine)
            analyze(engine, list(fresh.values()))
            with engine.begin() as conn:
                lowest = min(r._position(conn, "building_position") for r in self.runners)
                if self.runners[0].store.max_notification_id() > lowest:
                    continue  # new events arrived: keep going before the switch
                for runner in self.runners:
                    runner._switch(conn, fresh[runner.name])
                # the stable SQL views follow in the same transaction, before the old tables go
                refresh_sql_views(conn, list(fresh))
            for runner in self.runners:
                old, runner.active = runner.active, fresh[runner.name]
                old.metadata.drop_all(engine)
            return done


def refresh_sql_views(conn: Connection, names: Sequence[str]) -> None:
    """Inside the caller's transaction: point the SQL views reading projections ``names`` at their serving
    generations (``projections.sql_refresh``; imported here because it reads the registry of projections,
    which imports this module)."""
    from projections.sql_refresh import refresh

    refresh(conn, names)


def analyze(engine: Engine, projections: Sequence[Projection]) -> None:
    """PostgreSQL: fresh planner statistics of the tables a rebuild is loading, as they grow (after its batches 1,
    2, 4, 8, ...: a few passes in all) and once loaded. Without them a server that does not analyze them itself
    (autovacuum off, as on this machine, or not yet run on a table filled in minutes) plans joins on ``IN`` lists
    as scans of the whole table: the province's rebuild ran at ~930 events/s until its tables were analyzed, and
    at ~18,000 after. ``ANALYZE`` samples (30,000 rows a table): milliseconds to a second."""
    if engine.dialect.name != "postgresql":
        return
    with engine.begin() as conn:
        quote = conn.dialect.identifier_preparer.format_table
        for projection in projections:
            for table in projection.metadata.sorted_tables:
                conn.exec_driver_sql(f"ANALYZE {quote(table)}")


def _checkpoint(engine: Engine) -> None:
    """SQLite: copy the WAL a rebuild wrote into the database now (without waiting for readers)."""
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")


class ProjectionFailed(Exception):
    def __init__(self, name: str, position: int, cause: Exception) -> None:
        super().__init__(f"projection {name} stopped at position {position}: {cause}")
        self.name = name
        self.position = position


def _now() -> str:
    return datetime.now(UTC).isoformat()

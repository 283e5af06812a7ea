"""Projection runner: read the log in order from a tracked position, write view rows and the new position
in one transaction (exactly-once), poll on SQLite (the library cannot subscribe there), resume after a crash.

Invariants:
- A batch's view rows and its position commit together or not at all: a crash between batches never
  double-counts, and a restart resumes after the last committed position.
- A failing event stops only its projection; the error and its position are recorded, the position does
  not move past it.
- Rebuild writes into fresh tables (a new generation suffix) while the active ones keep serving, then
  switches the active generation in one transaction once caught up.
"""

from __future__ import annotations

import abc
import os
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

import orjson
from sqlalchemy import (
    BigInteger,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import StaticPool

from eventstore.store import LedgerStore

BATCH_SIZE = int(os.environ.get("JAMSOS_PROJECTION_BATCH", "5000"))
POLL_S = 0.5
POSITIONS_TABLE = "jamsos_projection_positions"


@dataclass(frozen=True, slots=True)
class Envelope:
    """One event as projections see it: its global position, stream, type and decoded JSON."""

    position: int
    originator_id: str
    originator_version: int
    event_type: str
    data: dict[str, Any]
    state: bytes
    """The canonical stored bytes (what the audit chain hashes)."""


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


def views_engine(store: LedgerStore) -> Engine:
    """The engine of the read models next to ``store`` (see ``StoreSettings.default_views_url``); one per
    store, so an in-memory store keeps one in-memory view database."""
    engine = _ENGINES.get(store)
    if engine is None:
        url = store.settings.default_views_url()
        if url == "sqlite://":
            engine = create_engine(url, poolclass=StaticPool, connect_args={"check_same_thread": False})
        else:
            engine = create_engine(url)
        if engine.dialect.name == "sqlite":
            event.listen(engine, "connect", _sqlite_views_pragmas)
        _ENGINES[store] = engine
    return engine


def _sqlite_views_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """Views are derived and rebuildable, and each batch commits its rows with its position: WAL with
    synchronous=NORMAL keeps that atomic (a power cut can only lose the last batches, which are then simply
    applied again) and saves a disk sync per batch. The event store itself keeps synchronous=FULL."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class ProjectionRunner:
    """Drives one projection over the store's notification log."""

    def __init__(self, store: LedgerStore, engine: Engine, factory: Callable[[int], Projection]) -> None:
        self.store = store
        self.engine = engine
        self.factory = factory
        self.name = factory(1).name
        tracking.create_all(engine)
        version = factory(1).version
        with engine.begin() as conn:
            if conn.execute(select(positions.c.name).where(positions.c.name == self.name)).first() is None:
                conn.execute(insert(positions).values(name=self.name, generation=1, position=0,
                                                      schema_version=version))
            stale = self._row(conn).schema_version != version
        self.active = factory(self.generation)
        self.active.metadata.create_all(engine)
        if stale:  # the code's tables differ from the stored ones: rebuild before serving
            self.rebuild()

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
        out = []
        for n in self.store.select_notifications(after + 1, limit):
            if until is not None and n.id > until:
                break
            raw = n.state if isinstance(n.state, bytes) else str(n.state).encode()  # a tampered row may be TEXT
            state = self.store.mapper.plain_state(raw)
            out.append(Envelope(n.id, str(n.originator_id), n.originator_version, n.topic.rsplit(":", 1)[-1],
                                orjson.loads(state), state))
        return out

    def _step(self, projection: Projection, position_col: str, batch_size: int, until: int | None = None) -> int:
        """Process one batch into ``projection``; returns how many events it applied (0 at the head)."""
        with self.engine.connect() as conn:
            after = int(getattr(self._row(conn), position_col) or 0)
        batch = self._envelopes(after, batch_size, until)
        if not batch:
            return 0
        try:
            with self.engine.begin() as conn:
                current = int(getattr(self._row(conn), position_col) or 0)
                assert current == after, f"{self.name}: another runner moved the position ({after} → {current})"
                projection.apply(conn, batch)
                conn.execute(
                    update(positions)
                    .where(positions.c.name == self.name)
                    .values({position_col: batch[-1].position, "updated_at": _now(), "last_error": None,
                             "error_position": None})
                )
        except Exception as exc:
            self._record_error(batch, projection, exc)
            raise ProjectionFailed(self.name, batch[0].position, exc) from exc
        return len(batch)

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
        done = 0
        while True:
            n = self._step(self.active, "position", batch_size, until)
            if n == 0:
                return done
            done += n
            if progress:
                progress(n)

    def follow(self, poll_s: float = POLL_S, stop: Callable[[], bool] = lambda: False) -> None:
        """Keep processing new events as they arrive (until ``stop()``)."""
        while not stop():
            if self.catch_up() == 0:
                time.sleep(poll_s)

    def rebuild(self, batch_size: int = BATCH_SIZE) -> int:
        """Build a new generation from position 0 beside the active one, then switch to it."""
        with self.engine.begin() as conn:
            row = self._row(conn)
            new_generation = int(row.building_generation or row.generation + 1)
            conn.execute(update(positions).where(positions.c.name == self.name)
                         .values(building_generation=new_generation, building_position=0))
        fresh = self.factory(new_generation)
        fresh.metadata.drop_all(self.engine)
        fresh.metadata.create_all(self.engine)
        done = 0
        while True:
            n = self._step(fresh, "building_position", batch_size)
            done += n
            if n == 0:
                with self.engine.begin() as conn:
                    row = self._row(conn)
                    if self.store.max_notification_id() > int(row.building_position or 0):
                        continue  # new events arrived: keep going before the switch
                    conn.execute(update(positions).where(positions.c.name == self.name).values(
                        generation=new_generation, position=row.building_position, building_generation=None,
                        building_position=None, updated_at=_now(), schema_version=fresh.version))
                old = self.active
                self.active = fresh
                old.metadata.drop_all(self.engine)
                return done


class ProjectionFailed(Exception):
    def __init__(self, name: str, position: int, cause: Exception) -> None:
        super().__init__(f"projection {name} stopped at position {position}: {cause}")
        self.name = name
        self.position = position


def _now() -> str:
    return datetime.now(UTC).isoformat()

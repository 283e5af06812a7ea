"""Rebuild benchmark: a full rebuild of every projection against a raw read + decode of the same log.

For each store (SQLite, PostgreSQL), in a fresh store:

1. build a log of at least ``--events`` events through the ledger's bulk commands (not timed for the
   result): sign one agreement with a 60-month window (2021-01..2025-12), enrol ``--members`` workers with
   one ``ImportCohort``, then pay one month at a time with ``PayCohort`` (quoted with
   ``commands.bulk.quote_cohort``, the clock moved into the month first) until
   ``store.max_notification_id()`` reaches ``--events``.
2. read the whole log page by page: once untimed (warm-up); once with the database driver's own cursor
   (``sqlite3`` / ``psycopg``, no library code) decoding each state with ``orjson.loads`` after unpacking it
   (``eventstore.state_codec.unpack``: new events are stored packed) — **the raw baseline**; once through the
   library's ``store.select_notifications`` +
   ``orjson.loads``, and once through ``select_notifications`` + the library's ``mapper.to_domain_event``
   (pydantic models), both for context.
3. rebuild every projection of ``projections.registry.PROJECTIONS`` into a fresh views database
   (``projections.runner.views_engine``) the way ``jamsos project rebuild`` does: one
   ``ProjectionGroup(...).rebuild()`` (one read of the log feeds every projection), timed and split into
   reading (the runner's ``_envelopes``), applying (each projection's ``apply``) and the rest.
4. write the rows the rebuild produced once more with the driver alone (SQLite ``executemany``, a commit per
   20,000 rows; PostgreSQL ``COPY``; no projection code) into fresh copies of the tables and build their
   indexes: the **floor**, what writing these views costs at the least on this machine.
5. report rebuild events/s (events of the log / seconds: each event through every projection), the read
   rates, ``ratio = rebuild events/s / raw read+decode events/s`` (target: >= 0.5), and the ratio the floor
   allows (raw read + floor write, and the same with reading and writing overlapped).

With ``--profile``, one projection is then rebuilt once more under cProfile (apart from the timed runs).

Run on demand (this is not a test)::

    python -m bench.rebuild --events 1000000 --store sqlite|postgres|both [--json] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import json
import math
import os
import platform
import shutil
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from operator import attrgetter, itemgetter
from pathlib import Path
from typing import Any, Protocol, TypeVar, cast

import orjson
import psycopg
import sqlalchemy
from psycopg import sql

from bench.bulk_write import (
    BENCH_ACTOR,
    PG_URL_DEFAULT,
    STORES,
    git_describe,
    log,
    per_s,
    profile_report,
    require_postgres,
    rounded,
    save_profile,
    selected,
    timed,
)
from cli.seed_demo import synthetic_nik
from commands import bulk
from commands.handlers import execute
from commands.messages import CohortRow, ImportCohort, PayCohort, SignAgreement
from eventstore.bootstrap import Ledger, bootstrap
from eventstore.clock import WIB, SimulatedClock
from eventstore.state_codec import unpack
from eventstore.store import LedgerStore
from ledger.values import BillingCadence, FundSource, PayerType
from projections import runner as projection_runner
from projections.registry import PROJECTIONS
from projections.runner import Projection, ProjectionGroup, ProjectionRunner, views_engine

T = TypeVar("T")

AGREEMENT_ID = "BENCH-REBUILD"
FIRST_YEAR = 2021
WINDOW_MONTHS = 60
"""The longest agreement window the ledger accepts (``ledger.agreement.WINDOW_MONTHS_MAX``)."""
NIK_REGION = "6172"
REGION_CODE = "61.72"
SIGNED_ON = date(FIRST_YEAR, 1, 2)
IMPORTED_ON = date(FIRST_YEAR, 1, 6)
PAY_DAY = 5
"""Month m is paid on day 5 of month m (the first month: the day after the import)."""

EVENTS_DEFAULT = 1_000_000
MONTHS_PLANNED = 50
"""Default cohort size = events / this: the import plus ~49 monthly payments reach the target, leaving
~10 months of the window spare."""
MEMBERS_MAX = 89_990
"""``synthetic_nik`` is unique only below 89,991."""
BUDGET_RP = 2_000_000_000
"""Payments do not draw on the budget, so the size of the cohort does not matter."""
READ_PAGE_ROWS = 10_000
RATIO_TARGET = 0.5




# --- results ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BuildRun:
    """The log one store was given: its size and how long the ledger took to write it (not the result)."""

    members: int
    payments: int
    events: int
    build_s: float
    import_s: float
    pay_s: float
    quote_s: float


@dataclass(frozen=True)
class ReadRun:
    """One pass over the whole log: events read, their state bytes, and where the time went."""

    events: int
    state_bytes: int
    elapsed_s: float
    fetch_s: float
    """Inside ``store.select_notifications`` (the database and the recorder's row objects)."""
    decode_s: float
    """Decoding the states of the fetched pages."""

    @property
    def events_per_s(self) -> float:
        return per_s(self.events, self.elapsed_s)


@dataclass(frozen=True)
class ProjectionRun:
    """One projection's share of the rebuild."""

    projection: str
    events: int
    apply_s: float
    """In the projection's ``apply`` (building rows, sending the statements)."""


@dataclass
class StoreResult:
    """One line of the report: a store, its log, the rebuild and the read baselines."""

    store: str
    members: int
    payments: int
    events: int
    state_bytes: int
    build_s: float
    build_events_per_s: float
    projections: int
    rebuild_s: float
    rebuild_read_s: float
    """In the runner's ``_envelopes`` (``store.read_log`` + ``orjson.loads``), once for all projections."""
    rebuild_other_s: float
    """Set-up, DDL and the indexes made after the load, position reads and updates, commits."""
    rebuild_events_per_s: float
    """events / rebuild_s: every event of the log through every projection."""
    raw_s: float
    raw_fetch_s: float
    raw_decode_s: float
    raw_events_per_s: float
    notifications_events_per_s: float
    library_s: float
    library_fetch_s: float
    library_decode_s: float
    library_events_per_s: float
    ratio: float
    """rebuild_events_per_s / raw_events_per_s."""
    view_rows: int
    """Rows the rebuild wrote (every table of every projection)."""
    floor_write_s: float
    floor_index_s: float
    floor_s: float
    """raw read + decode, then the driver alone writing the rebuild's rows and building their indexes: no
    rebuild of these views on this machine in one process can take less."""
    floor_ratio: float
    """(events / floor_s) / raw_events_per_s: the best ratio a rebuild of these views could reach."""
    floor_overlapped_ratio: float
    """As ``floor_ratio`` with reading and writing fully overlapped (two cores, one writer)."""
    rows_per_table: dict[str, int] = field(default_factory=dict)
    floor_write_s_per_table: dict[str, float] = field(default_factory=dict)
    per_projection: list[ProjectionRun] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)


def store_result(store: str, build: BuildRun, reads: dict[str, ReadRun], rebuild: RebuildRun, floor: FloorRun,
                 settings: dict[str, Any]) -> StoreResult:
    raw, notifications, library = reads["raw"], reads["notifications"], reads["library"]
    runs = rebuild.per_projection
    rebuild_events_per_s = per_s(build.events, rebuild.elapsed_s)
    floor_s = raw.elapsed_s + floor.write_s + floor.index_s
    return StoreResult(
        store=store, members=build.members, payments=build.payments, events=build.events,
        state_bytes=raw.state_bytes, build_s=build.build_s, build_events_per_s=per_s(build.events, build.build_s),
        projections=len(runs), rebuild_s=rebuild.elapsed_s, rebuild_read_s=rebuild.read_s,
        rebuild_other_s=rebuild.elapsed_s - rebuild.read_s - sum(r.apply_s for r in runs),
        rebuild_events_per_s=rebuild_events_per_s,
        raw_s=raw.elapsed_s, raw_fetch_s=raw.fetch_s, raw_decode_s=raw.decode_s, raw_events_per_s=raw.events_per_s,
        notifications_events_per_s=notifications.events_per_s,
        library_s=library.elapsed_s, library_fetch_s=library.fetch_s, library_decode_s=library.decode_s,
        library_events_per_s=library.events_per_s, ratio=rebuild_events_per_s / raw.events_per_s,
        view_rows=floor.rows, floor_write_s=floor.write_s, floor_index_s=floor.index_s, floor_s=floor_s,
        floor_ratio=per_s(build.events, floor_s) / raw.events_per_s,
        floor_overlapped_ratio=per_s(build.events, max(raw.elapsed_s, floor.write_s + floor.index_s))
        / raw.events_per_s,
        rows_per_table=floor.rows_per_table, floor_write_s_per_table=floor.write_s_per_table,
        per_projection=list(runs), settings=settings,
    )


# --- building the log -------------------------------------------------------------------------------


def periods() -> list[str]:
    """The agreement's 60 periods, 2021-01 .. 2025-12."""
    return [f"{FIRST_YEAR + m // 12}-{m % 12 + 1:02d}" for m in range(WINDOW_MONTHS)]


def pay_day(period: str) -> date:
    year, month = (int(x) for x in period.split("-"))
    return max(date(year, month, PAY_DAY), IMPORTED_ON + timedelta(days=1))


def members_for(events: int) -> int:
    """A cohort that reaches ``events`` in about ``MONTHS_PLANNED`` monthly payments."""
    return max(1, math.ceil(events / MONTHS_PLANNED))


def sign_agreement(ledger: Ledger, clock: SimulatedClock) -> None:
    clock.set_day(SIGNED_ON)
    window = periods()
    execute(ledger, SignAgreement(
        agreement_id=AGREEMENT_ID, name="bench rebuild", payer_id="PEMKOT-X", payer_type=PayerType.APBD_KOTA,
        fund_source=FundSource.APBD, region_code=REGION_CODE, first_period=window[0], last_period=window[-1],
        budget_rp=BUDGET_RP, billing_cadence=BillingCadence.MONTHLY, effective_on=SIGNED_ON,
    ), BENCH_ACTOR)


def import_members(ledger: Ledger, clock: SimulatedClock, members: int) -> float:
    """Enrol ``members`` alike workers with one ``ImportCohort``; return its seconds."""
    rows = [(i + 2, CohortRow(nik=synthetic_nik(NIK_REGION, i), name=f"W{i}", role="PETANI")) for i in range(members)]
    clock.set_day(IMPORTED_ON)
    command = ImportCohort(agreement_id=AGREEMENT_ID, rows=rows, effective_on=IMPORTED_ON)
    result, import_s = timed(lambda: execute(ledger, command, BENCH_ACTOR))
    if result["imported"] != members:
        raise RuntimeError(f"imported {result['imported']} of {members}: {result['rejected'][:3]}")
    return import_s


def pay_month(ledger: Ledger, clock: SimulatedClock, period: str, members: int) -> tuple[float, float]:
    """Quote then pay one month for the cohort, inside that month; return (quote seconds, pay seconds)."""
    paid_on = pay_day(period)
    clock.set_day(paid_on)
    quote, quote_s = timed(lambda: bulk.quote_cohort(ledger, AGREEMENT_ID, [period], paid_on))
    command = PayCohort(agreement_id=AGREEMENT_ID, periods=[period], amount_rp=quote["amount_rp"],
                        payment_reference=f"SP2D-{period}", effective_on=paid_on)
    result, pay_s = timed(lambda: execute(ledger, command, BENCH_ACTOR))
    if result["members_paid"] != members:
        raise RuntimeError(f"{period}: paid {result['members_paid']} of {members}: {result['skipped']}")
    return quote_s, pay_s


def build_log(ledger: Ledger, clock: SimulatedClock, events: int, members: int) -> BuildRun:
    """Sign, import, then pay month after month until the log holds at least ``events`` events."""
    start_s = time.perf_counter()
    sign_agreement(ledger, clock)
    import_s = import_members(ledger, clock, members)
    log(f"  imported {members:,} members in {import_s:.1f}s")
    quote_s = pay_s = 0.0
    payments = 0
    for period in periods():
        if ledger.store.max_notification_id() >= events:
            break
        one_quote_s, one_pay_s = pay_month(ledger, clock, period, members)
        quote_s += one_quote_s
        pay_s += one_pay_s
        payments += 1
        if payments % 10 == 0:
            log(f"  paid {payments} months, through {period}: {ledger.store.max_notification_id():,} events, "
                f"{time.perf_counter() - start_s:.0f}s so far")
    written = ledger.store.max_notification_id()
    if written < events:
        raise RuntimeError(f"the {WINDOW_MONTHS}-month window holds only {written:,} events for {members:,} "
                           f"members; pass more --members")
    return BuildRun(members=members, payments=payments, events=written, build_s=time.perf_counter() - start_s,
                    import_s=import_s, pay_s=pay_s, quote_s=quote_s)


# --- measuring --------------------------------------------------------------------------------------


def read_pages(fetch: Callable[[int], Sequence[Any]], position: Callable[[Any], int],
               state: Callable[[Any], bytes], decode: Callable[[Any], object], *, of_state: bool = False) -> ReadRun:
    """Page through the whole log with ``fetch(after)``, calling ``decode`` on each row (on each row's state
    with ``of_state``: C-level getter and decoder, no Python frame per row); fetch and decode timed apart."""
    events = state_bytes = 0
    fetch_s = decode_s = 0.0
    after = 0
    while True:
        t0_s = time.perf_counter()
        page = fetch(after)
        t1_s = time.perf_counter()
        for row in map(state, page) if of_state else page:
            decode(row)
        t2_s = time.perf_counter()
        fetch_s += t1_s - t0_s
        decode_s += t2_s - t1_s
        if not page:
            break
        events += len(page)
        state_bytes += sum(len(state(row)) for row in page)
        after = position(page[-1])
    return ReadRun(events=events, state_bytes=state_bytes, elapsed_s=fetch_s + decode_s, fetch_s=fetch_s,
                   decode_s=decode_s)


def read_log(store: LedgerStore, decode: Callable[[Any], object], page_rows: int) -> ReadRun:
    """Page through the whole log with ``store.select_notifications``, calling ``decode`` on each one."""
    return read_pages(lambda after: store.select_notifications(after + 1, page_rows), attrgetter("id"),
                      attrgetter("state"), decode)


def _ignore(notification: Any) -> object:
    return notification


def decode_stored(state: bytes) -> object:
    """A stored state as every reader must decode it: unpacked (a no-op for plain JSON), then parsed."""
    return orjson.loads(unpack(state))


def raw_decode(notification: Any) -> object:
    return decode_stored(notification.state)


def read_driver(store: LedgerStore, page_rows: int) -> ReadRun:
    """The raw baseline: the driver's own cursor on a connection of its own (no library code), the same
    columns the projections need, every state unpacked and parsed (:func:`decode_stored`)."""
    settings = store.settings
    conn: Any
    if settings.kind == "sqlite":
        conn = sqlite3.connect(str(settings.sqlite_path))
        query = ("SELECT rowid, originator_id, originator_version, topic, state FROM stored_events "
                 "WHERE rowid > ? ORDER BY rowid LIMIT ?")
    else:
        conn = psycopg.connect(dbname=settings.pg_dbname, host=settings.pg_host, port=settings.pg_port,
                               user=settings.pg_user, password=settings.pg_password or None)
        events_table = cast(Any, store)._events_t
        query = (f"SELECT notification_id, originator_id, originator_version, topic, state FROM {events_table} "
                 "WHERE notification_id > %s ORDER BY notification_id LIMIT %s")
    try:
        return read_pages(lambda after: conn.execute(query, (after, page_rows)).fetchall(), itemgetter(0),
                          itemgetter(4), decode_stored, of_state=True)
    finally:
        conn.close()


class Stopwatch:
    """Seconds spent inside wrapped callables, by label (a clock read per call: per batch, not per event)."""

    def __init__(self) -> None:
        self.totals_s: dict[str, float] = {}

    def wrap(self, label: str, fn: Callable[..., T]) -> Callable[..., T]:
        self.totals_s.setdefault(label, 0.0)

        def wrapper(*args: Any, **kwargs: Any) -> T:
            start_s = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.totals_s[label] += time.perf_counter() - start_s
        return wrapper


@dataclass(frozen=True)
class RebuildRun:
    elapsed_s: float
    read_s: float
    per_projection: list[ProjectionRun]
    tables: list[sqlalchemy.Table] = field(default_factory=list)
    """The tables the rebuild filled (the new active generation of every projection)."""


def rebuild_all(store: LedgerStore, engine: sqlalchemy.Engine, batch_size: int, events: int,
                profiler: cProfile.Profile | None = None) -> RebuildRun:
    """``ProjectionGroup([ProjectionRunner(...) per projection]).rebuild()``, as ``jamsos project rebuild``
    does. The runners' ``_envelopes`` and each projection's ``apply`` are timed through instance attributes
    that shadow them (the runner's code is not touched)."""
    watch = Stopwatch()

    def instrumented(name: str, factory: Callable[[int], Projection]) -> Callable[[int], Projection]:
        def make(generation: int) -> Projection:
            projection = factory(generation)
            setattr(projection, "apply", watch.wrap(name, projection.apply))  # noqa: B010 (mypy: method slot)
            return projection
        return make

    runners: list[ProjectionRunner] = []

    def run() -> dict[str, int]:
        for name, factory in PROJECTIONS.items():
            runner = ProjectionRunner(store, engine, instrumented(name, factory))
            setattr(runner, "_envelopes", watch.wrap("read", runner._envelopes))  # noqa: B010
            runners.append(runner)
        return ProjectionGroup(runners).rebuild(batch_size)

    done, elapsed_s = timed(run, profiler)
    runs = []
    for name, applied in done.items():
        if applied != events:
            raise RuntimeError(f"rebuild of {name} applied {applied:,} events, the log holds {events:,}")
        runs.append(ProjectionRun(name, applied, watch.totals_s[name]))
    read_s = watch.totals_s["read"]
    log(f"  rebuilt {', '.join(done)}: {events:,} events in {elapsed_s:.1f}s (read {read_s:.1f}s, "
        + ", ".join(f"{r.projection} {r.apply_s:.1f}s" for r in runs) + ")")
    return RebuildRun(elapsed_s, read_s, runs, [t for r in runners for t in r.active.metadata.sorted_tables])


@dataclass(frozen=True)
class FloorRun:
    """The rows a rebuild wrote, written once more by the driver alone (no projection code): what writing
    these views costs at the least, measured beside the rebuild."""

    rows: int
    write_s: float
    """Every row into fresh copies of the tables: SQLite ``executemany`` and a commit per 20,000 rows (one
    transaction per table spills the page cache and is slower), then one WAL checkpoint, as the rebuild
    does; PostgreSQL ``COPY`` with ``write_row``, one transaction per table."""
    index_s: float
    """The same secondary indexes, built after the load (as the rebuild does)."""
    rows_per_table: dict[str, int]
    write_s_per_table: dict[str, float]


FLOOR_SUFFIX = "_floor"
FLOOR_CHUNK_ROWS = 20_000


def write_floor(engine: sqlalchemy.Engine, tables: Sequence[sqlalchemy.Table]) -> FloorRun:
    """Copy every row of ``tables`` (read untimed) into fresh tables with the driver's own bulk path, timed,
    then build their secondary indexes, timed; the copies are dropped afterwards."""
    copies = sqlalchemy.MetaData()
    pairs = []
    for table in tables:
        copy = sqlalchemy.Table(table.name + FLOOR_SUFFIX, copies,
                                *(sqlalchemy.Column(c.name, c.type) for c in table.columns),
                                # the key in its declared order (paid: period first), not the columns' order
                                sqlalchemy.PrimaryKeyConstraint(*table.primary_key.columns.keys()),
                                **dict(table.dialect_kwargs))
        for index in table.indexes:
            sqlalchemy.Index(f"{index.name}{FLOOR_SUFFIX}", *(copy.c[c.name] for c in index.columns))
        pairs.append((table, copy))
    counts: dict[str, int] = {}
    seconds: dict[str, float] = {}
    write_s = index_s = 0.0
    with engine.connect() as conn:
        copies.drop_all(conn)
        for _, copy in pairs:
            conn.execute(sqlalchemy.schema.CreateTable(copy))
        conn.commit()
        for table, copy in pairs:
            names = [c.name for c in table.columns]
            rows = conn.exec_driver_sql(f"SELECT {', '.join(names)} FROM {table.name}").fetchall()
            conn.rollback()
            counts[table.name] = len(rows)
            raw: Any = conn.connection.driver_connection
            if conn.dialect.name == "sqlite":  # as the rebuild does: no checkpoint per commit (one, timed, below)
                raw.execute("PRAGMA wal_autocheckpoint=0")
            start_s = time.perf_counter()
            if conn.dialect.name == "postgresql":
                with raw.cursor() as cursor, cursor.copy(f"COPY {copy.name} ({', '.join(names)}) FROM STDIN") as out:
                    for row in rows:
                        out.write_row(row)
            else:
                marks = ", ".join("?" * len(names))
                cursor = raw.cursor()
                for i in range(0, len(rows), FLOOR_CHUNK_ROWS):  # a commit per chunk: each fits the page cache
                    cursor.executemany(f"INSERT INTO {copy.name} VALUES ({marks})", rows[i:i + FLOOR_CHUNK_ROWS])
                    raw.commit()
                cursor.close()
            raw.commit()
            seconds[table.name] = time.perf_counter() - start_s
            write_s += seconds[table.name]
        if conn.dialect.name == "sqlite":
            start_s = time.perf_counter()
            conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
            conn.commit()
            write_s += time.perf_counter() - start_s
        start_s = time.perf_counter()
        for _, copy in pairs:
            for index in copy.indexes:
                index.create(conn)
        conn.commit()
        index_s = time.perf_counter() - start_s
        copies.drop_all(conn)
        conn.commit()
    log(f"  floor: the rebuild's {sum(counts.values()):,} rows written again by the driver alone in "
        f"{write_s:.1f}s, indexes {index_s:.1f}s")
    return FloorRun(sum(counts.values()), write_s, index_s, counts, seconds)


# --- stores -----------------------------------------------------------------------------------------


class Target(Protocol):
    """A fresh ledger store (its views beside it), removed by ``cleanup``."""

    store: str

    def open_ledger(self, clock: SimulatedClock) -> Ledger: ...

    def settings(self) -> dict[str, Any]:
        """Effective settings of the event store and the views database."""
        ...

    def cleanup(self) -> None: ...

    def location(self) -> str: ...


def _use_key_file(path: Path) -> None:
    """Keys of a fresh store go beside it, never into the working directory or a configured keystore."""
    os.environ["JAMSOS_KEY_FILE"] = str(path)
    os.environ.pop("JAMSOS_KEYSTORE", None)
    os.environ.pop("JAMSOS_VIEWS", None)  # views beside the store, as the default says


class SQLiteTarget:
    """``ledger.db`` (and its ``.views.db``, ``.keys.db``) in a directory of its own."""

    store = "sqlite"

    def __init__(self, workdir: Path, *, existing: bool = False) -> None:
        """A new directory ``workdir/sqlite``, or with ``existing`` the one an earlier ``--keep`` run left."""
        self.directory = workdir / "sqlite"
        self.path = self.directory / "ledger.db"
        assert not existing or self.path.exists(), f"no store at {self.path}"
        self.directory.mkdir(parents=True, exist_ok=existing)

    def open_ledger(self, clock: SimulatedClock) -> Ledger:
        _use_key_file(self.directory / "ledger.key")
        return bootstrap(f"sqlite:///{self.path}", clock=clock)

    def settings(self) -> dict[str, Any]:
        out: dict[str, Any] = {"sqlite": sqlite3.sqlite_version}
        for label, path in (("store", self.path), ("views", self.path.with_suffix(".views.db"))):
            conn = sqlite3.connect(str(path))
            try:
                for pragma in ("journal_mode", "synchronous"):
                    out[f"{label}_{pragma}"] = str(conn.execute(f"PRAGMA {pragma}").fetchone()[0])
            finally:
                conn.close()
            out[f"{label}_file_bytes"] = path.stat().st_size if path.exists() else 0
        return out

    def cleanup(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)

    def location(self) -> str:
        return str(self.directory)


class PostgresTarget:
    """A fresh schema holding the events, snapshots, keys and views; dropped by ``cleanup``."""

    store = "postgres"

    def __init__(self, workdir: Path, pg_url: str) -> None:
        self.pg_url = pg_url
        self.schema = f"bench_rebuild_{uuid.uuid4().hex[:10]}"
        self.key_file = workdir / "postgres.key"

    def open_ledger(self, clock: SimulatedClock) -> Ledger:
        _use_key_file(self.key_file)
        sep = "&" if "?" in self.pg_url else "?"
        return bootstrap(f"{self.pg_url}{sep}schema={self.schema}", clock=clock)

    def settings(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        with psycopg.connect(self.pg_url) as conn:
            for name in ("server_version", "synchronous_commit", "fsync", "shared_buffers"):
                row = conn.execute(sql.SQL("SHOW {}").format(sql.Identifier(name))).fetchone()
                out[name] = str(row[0]) if row else "?"
            row = conn.execute("SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
                               "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relkind = 'r'",
                               [self.schema]).fetchone()
            out["schema_bytes"] = int(row[0]) if row else 0
        return out

    def cleanup(self) -> None:
        with psycopg.connect(self.pg_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(self.schema)))
        self.key_file.unlink(missing_ok=True)

    def location(self) -> str:
        return f"schema {self.schema} (key file {self.key_file})"


def make_target(store: str, workdir: Path, pg_url: str) -> Target:
    if store == "sqlite":
        return SQLiteTarget(workdir)
    return PostgresTarget(workdir, pg_url)


# --- one store --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    """What every store runs."""

    events: int
    members: int
    page_rows: int
    batch_size: int
    profile: str | None
    """Projection to profile (``"slowest"``: the slowest of the timed rebuild), or None."""


def run_store(target: Target, options: Options) -> tuple[StoreResult, tuple[str, cProfile.Profile, float] | None]:
    """Build the log (untimed), read it raw and through the library, then rebuild every projection."""
    log(f"{target.store}: building a log of >= {options.events:,} events ({options.members:,} members)")
    clock = SimulatedClock(datetime(FIRST_YEAR, 1, 2, 8, tzinfo=WIB))
    ledger = target.open_ledger(clock)
    profiled = None
    try:
        build = build_log(ledger, clock, options.events, options.members)
        log(f"  log built: {build.events:,} events in {build.build_s:.1f}s "
            f"(import {build.import_s:.1f}s, {build.payments} payments {build.pay_s:.1f}s, quotes {build.quote_s:.1f}s)"
            " - not part of the result")
        store = ledger.store
        warm = read_log(store, _ignore, options.page_rows)
        log(f"  warm-up read (untimed for the result): {warm.events:,} events in {warm.elapsed_s:.1f}s")
        reads = {
            "raw": read_driver(store, options.page_rows),
            "notifications": read_log(store, raw_decode, options.page_rows),
            "library": read_log(store, store.mapper.to_domain_event, options.page_rows),
        }
        labels = {"raw": "raw driver read + orjson", "notifications": "select_notifications + orjson",
                  "library": "select_notifications + to_domain_event"}
        for key, run in reads.items():
            log(f"  {labels[key]}: {run.events:,} events in {run.elapsed_s:.1f}s "
                f"(fetch {run.fetch_s:.1f}s, decode {run.decode_s:.1f}s)")
            if run.events != build.events:
                raise RuntimeError(f"read {run.events:,} events, the log's head is {build.events:,}")
        engine = views_engine(store)
        try:
            rebuild = rebuild_all(store, engine, options.batch_size, build.events)
            floor = write_floor(engine, rebuild.tables)
            if options.profile is not None:
                profiler = cProfile.Profile()
                again = rebuild_all(store, engine, options.batch_size, build.events, profiler)
                log(f"  profiled rebuild: {again.elapsed_s:.1f}s under cProfile")
                profiled = ("all", profiler, again.elapsed_s)
        finally:
            engine.dispose()
        settings = {**target.settings(), "views_url": engine.url.render_as_string(hide_password=True),
                    # other work on the machine skews the timings: say how busy it was
                    "load_average_1m": round(os.getloadavg()[0], 2)}
    finally:
        ledger.close()
    return store_result(target.store, build, reads, rebuild, floor, settings), profiled


# --- reporting --------------------------------------------------------------------------------------

COLUMNS: list[tuple[str, str, str]] = [
    # (header, attribute, format)
    ("store", "store", "{:<8}"),
    ("events", "events", "{:>9,}"),
    ("build s", "build_s", "{:>7.1f}"),
    ("rebuild s", "rebuild_s", "{:>8.1f}"),
    ("rebuild ev/s", "rebuild_events_per_s", "{:>9,.0f}"),
    ("raw ev/s", "raw_events_per_s", "{:>9,.0f}"),
    ("notif. ev/s", "notifications_events_per_s", "{:>9,.0f}"),
    ("library ev/s", "library_events_per_s", "{:>9,.0f}"),
    ("ratio", "ratio", "{:>6.3f}"),
    ("view rows", "view_rows", "{:>9,}"),
    ("floor s", "floor_s", "{:>7.1f}"),
    ("floor ratio", "floor_ratio", "{:>6.3f}"),
    ("overlapped", "floor_overlapped_ratio", "{:>6.3f}"),
]


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], left: int = 1) -> list[str]:
    """Aligned columns: the first ``left`` left-aligned, the rest right-aligned."""
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) if i < left else c.rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths, strict=True)))
    return [line(headers), *(line(row) for row in rows)]


def format_table(options: Options, results: Sequence[StoreResult]) -> str:
    """The main table, the per-projection table, and the target verdict per store."""
    names = list(PROJECTIONS)
    lines = [f"log >= {options.events:,} events; projections: {', '.join(names)}; "
             f"rebuild batch {options.batch_size:,} events; read page {options.page_rows:,} rows; git {git_describe()}",
             ""]
    lines += _table([h for h, _, _ in COLUMNS],
                    [[fmt.format(getattr(r, attr)) for _, attr, fmt in COLUMNS] for r in results])
    lines.append("")
    headers = ["store", "read s", *(f"{n} apply s" for n in names), "other s", "total s"]
    lines += _table(headers, [
        [r.store, f"{r.rebuild_read_s:.1f}", *(f"{p.apply_s:.1f}" for p in r.per_projection),
         f"{r.rebuild_other_s:.1f}", f"{r.rebuild_s:.1f}"]
        for r in results
    ])
    lines.append("")
    lines += [
        "build s = writing the log through the ledger (not part of the result)",
        f"rebuild s = ProjectionGroup(...).rebuild() of the {len(names)} projections (one read of the log feeds "
        "them all); rebuild ev/s = events / rebuild s (each event through every projection)",
        "raw = the driver's own cursor + orjson.loads (no library); notif. = select_notifications + orjson.loads; "
        "library = select_notifications + mapper.to_domain_event; ratio = rebuild ev/s / raw ev/s",
        "read s = in the runner's _envelopes; apply s = in the projection's apply; other s = the rest "
        "(position reads and updates, commits, DDL, indexes after the load)",
        "floor s = raw read + decode, then the rebuild's own view rows written again by the driver alone "
        "(executemany / COPY, no projection code) and their indexes built: the least a rebuild of these views can "
        "take in one process; floor ratio = (events / floor s) / raw ev/s; overlapped = the same if reading "
        "and writing overlapped perfectly on two cores",
    ]
    for r in results:
        verdict = "met" if r.ratio >= RATIO_TARGET else "NOT met"
        lines.append(f"{r.store}: target ratio >= {RATIO_TARGET} {verdict} ({r.ratio:.3f}; the floor allows "
                     f"{r.floor_ratio:.3f}, {r.floor_overlapped_ratio:.3f} overlapped; rebuild at "
                     f"{r.floor_s / r.rebuild_s:.0%} of the floor's speed); raw read = fetch "
                     f"{r.raw_fetch_s:.1f}s + decode {r.raw_decode_s:.1f}s; {r.state_bytes / 1e6:,.0f} MB of state; "
                     f"floor write {r.floor_write_s:.1f}s + indexes {r.floor_index_s:.1f}s; "
                     f"load average {r.settings.get('load_average_1m', '?')} at the end ({os.cpu_count()} CPUs)")
        lines.append("  view rows (floor write s): " + ", ".join(
            f"{name} {n:,} ({r.floor_write_s_per_table.get(name, 0.0):.1f}s)"
            for name, n in r.rows_per_table.items() if n))
    return "\n".join(lines)


def environment(args: argparse.Namespace, options: Options) -> dict[str, Any]:
    return {
        **asdict(options),
        "projections": list(PROJECTIONS),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "sqlalchemy": sqlalchemy.__version__,
        "psycopg": psycopg.__version__,
        "cpus": os.cpu_count(),
        "git": git_describe(),
        "started_at": datetime.now().astimezone().isoformat(timespec="seconds"),
    }


def as_json(result: StoreResult) -> dict[str, Any]:
    out = rounded(asdict(result))
    out["per_projection"] = [rounded(p) for p in out["per_projection"]]
    return out


def print_report(args: argparse.Namespace, options: Options, results: Sequence[StoreResult],
                 profiles: dict[str, str]) -> None:
    """Table (or JSON) on stdout; profiles on stdout after the table, on stderr with ``--json``."""
    if args.json:
        report = {"environment": environment(args, options), "results": [as_json(r) for r in results]}
        print(json.dumps(report, indent=2))
    else:
        print(format_table(options, results))
    stream = sys.stderr if args.json else sys.stdout
    for title, text in profiles.items():
        print(f"\n=== profile {title}, top {args.profile_top} by {args.profile_sort} ===", file=stream)
        print(text, file=stream)


# --- command line -----------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.rebuild", description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=EVENTS_DEFAULT,
                        help=f"the log holds at least this many events (default {EVENTS_DEFAULT:,})")
    parser.add_argument("--members", type=int, default=None,
                        help=f"cohort size (default: events / {MONTHS_PLANNED}, i.e. ~{MONTHS_PLANNED} monthly "
                             "payments)")
    parser.add_argument("--store", choices=[*STORES, "both"], default="sqlite")
    parser.add_argument("--batch-size", type=int, default=projection_runner.REBUILD_BATCH_SIZE,
                        help=f"events per rebuild transaction (default {projection_runner.REBUILD_BATCH_SIZE:,}, "
                             "$JAMSOS_REBUILD_BATCH)")
    parser.add_argument("--page-rows", type=int, default=READ_PAGE_ROWS,
                        help=f"rows per select_notifications page of the read baselines (default {READ_PAGE_ROWS:,})")
    parser.add_argument("--pg-url", default=PG_URL_DEFAULT, help="PostgreSQL server (a fresh schema is used per run)")
    parser.add_argument("--workdir", type=Path, default=None, help="where SQLite files go (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the SQLite files and the PostgreSQL schema")
    parser.add_argument("--json", action="store_true", help="print the results as JSON on stdout")
    parser.add_argument("--profile", nargs="?", const="all", default=None,
                        choices=["all"],
                        help="after the timed run, rebuild again under cProfile")
    parser.add_argument("--profile-top", type=int, default=25, help="functions shown per profile (default 25)")
    parser.add_argument("--profile-sort", default="tottime", help="pstats sort key (default tottime)")
    parser.add_argument("--profile-dir", type=Path, default=None,
                        help="also write the profile as DIR/rebuild-<store>-<projection>.prof (for pstats, snakeviz)")
    args = parser.parse_args(argv)
    if args.events < 1:
        parser.error("--events must be positive")
    members = args.members if args.members is not None else members_for(args.events)
    if not 1 <= members <= MEMBERS_MAX:
        parser.error(f"the cohort ({members:,} members) must be between 1 and {MEMBERS_MAX:,} "
                     "(synthetic NIKs repeat above); pass --members")
    if members * (WINDOW_MONTHS + 1) < args.events:
        parser.error(f"{members:,} members give at most ~{members * (WINDOW_MONTHS + 1):,} events over the "
                     f"{WINDOW_MONTHS}-month window; pass more --members")
    if args.batch_size < 1 or args.page_rows < 1:
        parser.error("--batch-size and --page-rows must be positive")
    args.members = members
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    options = Options(events=args.events, members=args.members, page_rows=args.page_rows,
                      batch_size=args.batch_size, profile=args.profile)
    bulk.SHOW_PROGRESS = False
    if "postgres" in selected(args.store, STORES):
        require_postgres(args.pg_url)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="jamsos-bench-rebuild-"))
    workdir.mkdir(parents=True, exist_ok=True)
    results: list[StoreResult] = []
    profiles: dict[str, str] = {}
    try:
        for store in selected(args.store, STORES):
            target = make_target(store, workdir, args.pg_url)
            try:
                result, profiled = run_store(target, options)
            finally:
                if args.keep:
                    log(f"  kept: {target.location()}")
                else:
                    target.cleanup()
            results.append(result)
            if profiled is not None:
                name, profiler, profiled_s = profiled
                title = f"{store}/{name}: rebuild of {result.events:,} events, {profiled_s:.1f}s under cProfile"
                profiles[title] = profile_report(profiler, args.profile_top, args.profile_sort)
                save_profile(profiler, args.profile_dir, f"rebuild-{store}-{name}")
    finally:
        if args.workdir is None and not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    print_report(args, options, results, profiles)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Rebuild benchmark: a full rebuild of every projection against a raw read + decode of the same log.

For each store (SQLite, PostgreSQL), in a fresh store:

1. build a log of at least ``--events`` events through the ledger's bulk commands (not timed for the
   result): sign one agreement with a 60-month window (2021-01..2025-12), enrol ``--members`` workers with
   one ``ImportCohort``, then pay one month at a time with ``PayCohort`` (quoted with
   ``commands.bulk.quote_cohort``, the clock moved into the month first) until
   ``store.max_notification_id()`` reaches ``--events``.
2. read the whole log page by page with ``store.select_notifications``: once untimed (warm-up), once
   decoding each state with ``orjson.loads`` (the raw baseline: state bytes are plain JSON), once through
   the library's own ``store.mapper.to_domain_event`` (pydantic models), for context.
3. rebuild every projection of ``projections.registry.PROJECTIONS`` into a fresh views database
   (``projections.runner.views_engine``): ``ProjectionRunner(...)`` then ``.rebuild()``, timed per projection
   and split into reading (the runner's ``_envelopes``), applying (the projection's ``apply``) and the rest.
4. report rebuild events/s (events x projections / seconds, and per projection), the two read rates, and
   ``ratio = rebuild events/s / raw read+decode events/s`` (target: >= 0.5).

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
from pathlib import Path
from typing import Any, Protocol, TypeVar

import orjson
import psycopg
import sqlalchemy
from psycopg import sql

from bench.bulk_write import (
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
from commands import bulk
from commands.bootstrap import Ledger, bootstrap
from commands.clock import WIB, SimulatedClock
from commands.demo import synthetic_nik
from commands.handlers import execute
from commands.messages import CohortRow, ImportCohort, PayCohort, SignAgreement
from eventstore.store import LedgerStore
from ledger.values import BillingCadence, FundSource, PayerType
from projections import runner as projection_runner
from projections.registry import PROJECTIONS
from projections.runner import Projection, ProjectionRunner, views_engine

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
"""Below 2**31: the ``registers`` projection stores ``budget_rp`` in an INTEGER column, 32 bits on PostgreSQL
(payments do not draw on the budget, so the size of the cohort does not matter)."""
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
    """One projection rebuilt from position 0 into a fresh generation."""

    projection: str
    events: int
    elapsed_s: float
    events_per_s: float
    read_s: float
    """In ``ProjectionRunner._envelopes``: ``select_notifications`` and building the envelopes."""
    apply_s: float
    """In the projection's ``apply`` (building rows, sending the statements)."""
    other_s: float
    """The rest: set-up, DDL, the position reads and updates, commits, dropping the old generation."""


@dataclass
class StoreResult:
    """One line of the report: a store, its log, the rebuild and the two read baselines."""

    store: str
    members: int
    payments: int
    events: int
    state_bytes: int
    build_s: float
    build_events_per_s: float
    projections: int
    rebuild_s: float
    rebuild_events_per_s: float
    """events x projections / rebuild_s: every projection reads the whole log."""
    raw_s: float
    raw_fetch_s: float
    raw_decode_s: float
    raw_events_per_s: float
    library_s: float
    library_fetch_s: float
    library_decode_s: float
    library_events_per_s: float
    ratio: float
    """rebuild_events_per_s / raw_events_per_s."""
    per_projection: list[ProjectionRun] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)


def store_result(store: str, build: BuildRun, raw: ReadRun, library: ReadRun,
                 runs: Sequence[ProjectionRun], settings: dict[str, Any]) -> StoreResult:
    rebuild_s = sum(r.elapsed_s for r in runs)
    rebuild_events_per_s = per_s(build.events * len(runs), rebuild_s)
    return StoreResult(
        store=store, members=build.members, payments=build.payments, events=build.events,
        state_bytes=raw.state_bytes, build_s=build.build_s, build_events_per_s=per_s(build.events, build.build_s),
        projections=len(runs), rebuild_s=rebuild_s, rebuild_events_per_s=rebuild_events_per_s,
        raw_s=raw.elapsed_s, raw_fetch_s=raw.fetch_s, raw_decode_s=raw.decode_s, raw_events_per_s=raw.events_per_s,
        library_s=library.elapsed_s, library_fetch_s=library.fetch_s, library_decode_s=library.decode_s,
        library_events_per_s=library.events_per_s, ratio=rebuild_events_per_s / raw.events_per_s,
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
    ))


def import_members(ledger: Ledger, clock: SimulatedClock, members: int) -> float:
    """Enrol ``members`` alike workers with one ``ImportCohort``; return its seconds."""
    rows = [(i + 2, CohortRow(nik=synthetic_nik(NIK_REGION, i), name=f"W{i}", role="PETANI")) for i in range(members)]
    clock.set_day(IMPORTED_ON)
    command = ImportCohort(agreement_id=AGREEMENT_ID, rows=rows, effective_on=IMPORTED_ON)
    result, import_s = timed(lambda: execute(ledger, command))
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
    result, pay_s = timed(lambda: execute(ledger, command))
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


def read_log(store: LedgerStore, decode: Callable[[Any], object], page_rows: int) -> ReadRun:
    """Page through the whole log with ``store.select_notifications``, calling ``decode`` on each one."""
    events = state_bytes = 0
    fetch_s = decode_s = 0.0
    start = 1
    while True:
        t0_s = time.perf_counter()
        page = store.select_notifications(start, page_rows)
        t1_s = time.perf_counter()
        for notification in page:
            decode(notification)
        t2_s = time.perf_counter()
        fetch_s += t1_s - t0_s
        decode_s += t2_s - t1_s
        if not page:
            break
        events += len(page)
        state_bytes += sum(len(n.state) for n in page)
        start = page[-1].id + 1
    return ReadRun(events=events, state_bytes=state_bytes, elapsed_s=fetch_s + decode_s, fetch_s=fetch_s,
                   decode_s=decode_s)


def _ignore(notification: Any) -> object:
    return notification


def raw_decode(notification: Any) -> object:
    """The raw baseline: the stored state is the event's plain JSON."""
    return orjson.loads(notification.state)


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


def rebuild_one(store: LedgerStore, engine: sqlalchemy.Engine, factory: Callable[[int], Projection],
                batch_size: int, profiler: cProfile.Profile | None = None) -> tuple[int, float, Stopwatch]:
    """``ProjectionRunner(...)`` then ``.rebuild()``; return (events applied, seconds for both, the split).

    The runner's ``_envelopes`` and each projection's ``apply`` are timed through instance attributes that
    shadow them (the runner's code is not touched)."""
    watch = Stopwatch()

    def instrumented(generation: int) -> Projection:
        projection = factory(generation)
        setattr(projection, "apply", watch.wrap("apply", projection.apply))  # noqa: B010 (mypy: method slot)
        return projection

    def run() -> int:
        runner = ProjectionRunner(store, engine, instrumented)
        setattr(runner, "_envelopes", watch.wrap("read", runner._envelopes))  # noqa: B010
        return runner.rebuild(batch_size)

    done, elapsed_s = timed(run, profiler)
    return done, elapsed_s, watch


def rebuild_all(store: LedgerStore, engine: sqlalchemy.Engine, batch_size: int, events: int) -> list[ProjectionRun]:
    runs = []
    for name, factory in PROJECTIONS.items():
        done, elapsed_s, watch = rebuild_one(store, engine, factory, batch_size)
        if done != events:
            raise RuntimeError(f"rebuild of {name} applied {done:,} events, the log holds {events:,}")
        read_s, apply_s = watch.totals_s["read"], watch.totals_s["apply"]
        other_s = elapsed_s - read_s - apply_s
        log(f"  rebuilt {name}: {done:,} events in {elapsed_s:.1f}s ({per_s(done, elapsed_s):,.0f} events/s; "
            f"read {read_s:.1f}s, apply {apply_s:.1f}s, other {other_s:.1f}s)")
        runs.append(ProjectionRun(name, done, elapsed_s, per_s(done, elapsed_s), read_s, apply_s, other_s))
    return runs


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

    def __init__(self, workdir: Path) -> None:
        self.directory = workdir / "sqlite"
        self.directory.mkdir(parents=True, exist_ok=False)
        self.path = self.directory / "ledger.db"

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


def profile_rebuild(store: LedgerStore, engine: sqlalchemy.Engine, options: Options,
                    runs: Sequence[ProjectionRun]) -> tuple[str, cProfile.Profile, float]:
    """One more rebuild of one projection, under cProfile (apart from the timed one)."""
    name = options.profile or "slowest"
    if name == "slowest":
        name = max(runs, key=lambda r: r.elapsed_s).projection
    profiler = cProfile.Profile()
    _, elapsed_s, _ = rebuild_one(store, engine, PROJECTIONS[name], options.batch_size, profiler)
    log(f"  profiled rebuild of {name}: {elapsed_s:.1f}s under cProfile")
    return name, profiler, elapsed_s


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
        raw = read_log(store, raw_decode, options.page_rows)
        log(f"  raw read + orjson: {raw.events:,} events in {raw.elapsed_s:.1f}s "
            f"(fetch {raw.fetch_s:.1f}s, decode {raw.decode_s:.1f}s)")
        library = read_log(store, store.mapper.to_domain_event, options.page_rows)
        log(f"  library read + to_domain_event: {library.events:,} events in {library.elapsed_s:.1f}s "
            f"(fetch {library.fetch_s:.1f}s, decode {library.decode_s:.1f}s)")
        for run in (raw, library):
            if run.events != build.events:
                raise RuntimeError(f"read {run.events:,} events, the log's head is {build.events:,}")
        engine = views_engine(store)
        try:
            runs = rebuild_all(store, engine, options.batch_size, build.events)
            if options.profile is not None:
                profiled = profile_rebuild(store, engine, options, runs)
        finally:
            engine.dispose()
        settings = {**target.settings(), "views_url": engine.url.render_as_string(hide_password=True),
                    # other work on the machine skews the timings: say how busy it was
                    "load_average_1m": round(os.getloadavg()[0], 2)}
    finally:
        ledger.close()
    return store_result(target.store, build, raw, library, runs, settings), profiled


# --- reporting --------------------------------------------------------------------------------------

COLUMNS: list[tuple[str, str, str]] = [
    # (header, attribute, format)
    ("store", "store", "{:<8}"),
    ("events", "events", "{:>9,}"),
    ("build s", "build_s", "{:>7.1f}"),
    ("rebuild s", "rebuild_s", "{:>8.1f}"),
    ("rebuild ev/s", "rebuild_events_per_s", "{:>9,.0f}"),
    ("raw ev/s", "raw_events_per_s", "{:>9,.0f}"),
    ("library ev/s", "library_events_per_s", "{:>9,.0f}"),
    ("ratio", "ratio", "{:>6.3f}"),
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
    headers = ["store", "projection", "events", "seconds", "events/s", "vs raw", "read s", "apply s", "other s"]
    lines += _table(headers, [
        [r.store, p.projection, f"{p.events:,}", f"{p.elapsed_s:.1f}", f"{p.events_per_s:,.0f}",
         f"{p.events_per_s / r.raw_events_per_s:.3f}", f"{p.read_s:.1f}", f"{p.apply_s:.1f}", f"{p.other_s:.1f}"]
        for r in results for p in r.per_projection
    ], left=2)
    lines.append("")
    lines += [
        "build s = writing the log through the ledger (not part of the result)",
        f"rebuild s = ProjectionRunner(...) + .rebuild() of the {len(names)} projections; "
        f"rebuild ev/s = events x {len(names)} / rebuild s",
        "raw = select_notifications + orjson.loads; library = select_notifications + mapper.to_domain_event; "
        "ratio = rebuild ev/s / raw ev/s",
        "read s = in the runner's _envelopes; apply s = in the projection's apply; other s = the rest "
        "(position reads and updates, commits, DDL)",
    ]
    for r in results:
        verdict = "met" if r.ratio >= RATIO_TARGET else "NOT met"
        lines.append(f"{r.store}: target ratio >= {RATIO_TARGET} {verdict} ({r.ratio:.3f}); raw read = fetch "
                     f"{r.raw_fetch_s:.1f}s + decode {r.raw_decode_s:.1f}s; {r.state_bytes / 1e6:,.0f} MB of state; "
                     f"load average {r.settings.get('load_average_1m', '?')} at the end ({os.cpu_count()} CPUs)")
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
    parser.add_argument("--batch-size", type=int, default=projection_runner.BATCH_SIZE,
                        help=f"events per rebuild transaction (default {projection_runner.BATCH_SIZE:,}, "
                             "$JAMSOS_PROJECTION_BATCH)")
    parser.add_argument("--page-rows", type=int, default=READ_PAGE_ROWS,
                        help=f"rows per select_notifications page of the read baselines (default {READ_PAGE_ROWS:,})")
    parser.add_argument("--pg-url", default=PG_URL_DEFAULT, help="PostgreSQL server (a fresh schema is used per run)")
    parser.add_argument("--workdir", type=Path, default=None, help="where SQLite files go (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the SQLite files and the PostgreSQL schema")
    parser.add_argument("--json", action="store_true", help="print the results as JSON on stdout")
    parser.add_argument("--profile", nargs="?", const="slowest", default=None,
                        choices=["slowest", *PROJECTIONS],
                        help="after the timed runs, rebuild one projection again under cProfile "
                             "(default: the slowest one)")
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

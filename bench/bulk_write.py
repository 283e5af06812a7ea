"""Bulk write benchmark: the ledger's bulk paths against a raw insert of the very same rows.

For each store (SQLite, PostgreSQL) and each payment variant, in a fresh store:

1. sign one funding agreement, enrol ``--members`` workers with one ``ImportCohort``, then pay the
   year either as 12 monthly ``PayCohort`` commands (``monthly``) or as one ``PayCohort`` covering
   12 periods in advance (``annual``). Only ``execute(...)`` of the import and of the payments is
   timed; each payment's quote (a read) is timed apart and reported on its own.
2. read back every row that run wrote (same originator ids, versions, topics and state bytes) and
   insert them raw into an empty table of the same shape, in one transaction: SQLite ``executemany``
   with the library's connection settings, PostgreSQL binary ``COPY``.
3. report events/s of the bulk path, rows/s of the raw insert and their ratio (targets: >= 0.5 on SQLite,
   >= 0.3 on PostgreSQL, >= 0.25 with every member in its own state), and the same ratio with the quotes
   counted (``ratio+q``: events / (execute + quote seconds)); the machine's load beside each line. The figures
   are saved as JSON in ``bench/results/`` (:func:`bench.common.save_result`; with ``--json`` they go to stdout
   only, for ``bench.all``, which saves them).

Run on demand (this is not a test)::

    python -m bench.bulk_write --members 20000 --store sqlite|postgres|both [--variant monthly|annual|both]
                               [--json] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import platform
import pstats
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import psycopg

from bench.bulk_floor import FloorRun, command_chunks, measure_floors, with_snapshots
from bench.bulk_targets import PostgresTarget, RawRow, SQLiteTarget, Target
from bench.bulk_targets import log as log  # re-exported: bench.rebuild, bench.scale and bench.single import them here
from bench.bulk_targets import timed as timed
from bench.common import load, save_result
from cli.seed_demo import synthetic_nik
from commands import bulk
from commands.authorise import local_actor
from commands.handlers import execute
from commands.messages import CohortRow, ImportCohort, PayCohort, SignAgreement
from eventstore.bootstrap import Ledger
from eventstore.clock import WIB, SimulatedClock
from ledger.values import BillingCadence, FundSource, PayerType

T = TypeVar("T")

AGREEMENT_ID = "BENCH-2025"
YEAR = 2025
MONTHS = 12
NIK_REGION = "6172"
REGION_CODE = "61.72"
SIGNED_ON = date(YEAR, 1, 2)
IMPORTED_ON = date(YEAR, 1, 6)
PAY_DAY = 5
"""Month m is paid on day 5 of month m (January: the day after the import)."""

MEMBERS_DEFAULT = 10_000
MEMBERS_MAX = 89_990
"""``synthetic_nik`` is unique only below 89,991."""
BUDGET_RP = 10**12
READ_PAGE_ROWS = 50_000
RATIO_TARGET = 0.5
"""The issue's targets: SQLite >= 0.5, PostgreSQL >= 0.3; every member in its own state (SQLite) >= 0.25."""
RATIO_TARGETS = {"sqlite": 0.5, "postgres": 0.3}
RATIO_TARGET_DISTINCT = 0.25
STORES = ("sqlite", "postgres")
VARIANTS = ("monthly", "annual")
PG_URL_DEFAULT = (
    os.environ.get("JAMSOS_BENCH_POSTGRES_URL")
    or os.environ.get("JAMSOS_TEST_POSTGRES_URL")
    or "postgresql://postgres@127.0.0.1:5432/test"
)

BENCH_ACTOR = local_actor()
"""The benchmarks run as the server's own operating-system user (role admin)."""


# --- results ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Workload:
    """What every variant runs: the cohort size, how alike its members are, the bulk batch size."""

    members: int
    distinct_states: int
    batch_size: int
    replicate_by_state: bool


@dataclass(frozen=True)
class Payment:
    """One ``PayCohort`` of a variant: the periods, the business day it is paid, its reference."""

    periods: list[str]
    paid_on: date
    reference: str


@dataclass
class BulkRun:
    """What one variant's bulk path wrote, and how long the import, payments and quotes took."""

    payments: int
    events: int
    after_notification_id: int
    last_notification_id: int
    import_s: float
    pay_s: float
    quote_s: float
    marks: list[int] = field(default_factory=list)
    """The log's last notification id after each command (import, then each payment)."""

    @property
    def bulk_s(self) -> float:
        return self.import_s + self.pay_s


@dataclass
class VariantResult:
    """One line of the report: a store and variant, its bulk figures and its raw baseline."""

    store: str
    variant: str
    members: int
    distinct_states: int
    payments: int
    events: int
    import_s: float
    pay_s: float
    bulk_s: float
    events_per_s: float
    quote_s: float
    raw_rows: int
    raw_state_bytes: int
    """Sum of the rows' state sizes: the same bytes on both sides."""
    raw_s: float
    raw_rows_per_s: float
    ratio: float
    ratio_with_quote: float
    """events / (execute + quote seconds) / raw rows/s: the cohort payment as an operator runs it."""
    target: float
    target_met: bool
    load: list[float] = field(default_factory=list)
    """The machine's 1-, 5- and 15-minute load averages when the variant finished."""
    settings: dict[str, str] = field(default_factory=dict)
    """Effective write settings of the ledger's connection and of the raw one (to prove they match)."""
    floor_commits_s: float = 0.0
    floor_chain_s: float = 0.0
    floor_full_s: float = 0.0
    """:mod:`bench.bulk_floor`: the same rows written raw one transaction per command, then through the store
    with the chain, then with the snapshot rows too."""
    floor_commits_ratio: float = 0.0
    floor_chain_ratio: float = 0.0
    floor_full_ratio: float = 0.0
    """Each floor's events/s over the raw rows/s: the best ratio a bulk path writing those rows could reach."""

    @property
    def floor_ratios(self) -> str:
        return f"{self.floor_commits_ratio:.2f}/{self.floor_chain_ratio:.2f}/{self.floor_full_ratio:.2f}"


def per_s(count: int, elapsed_s: float) -> float:
    return count / elapsed_s if elapsed_s > 0 else float("inf")


def state_bytes(rows: Sequence[RawRow]) -> int:
    return sum(len(state) for _, _, _, state in rows)


@dataclass(frozen=True)
class RawRun:
    """The raw baseline of one variant: the rows inserted, how long it took, the settings in force."""

    rows: Sequence[RawRow]
    raw_s: float
    settings: dict[str, str]


def variant_result(store: str, variant: str, workload: Workload, run: BulkRun, raw: RawRun,
                   floor: FloorRun) -> VariantResult:
    events_per_s = per_s(run.events, run.bulk_s)
    raw_rows_per_s = per_s(len(raw.rows), raw.raw_s)

    def floor_ratio(seconds: float) -> float:
        return per_s(run.events, seconds) / raw_rows_per_s

    ratio = events_per_s / raw_rows_per_s
    target = RATIO_TARGET_DISTINCT if workload.distinct_states == 0 else RATIO_TARGETS[store]
    return VariantResult(
        store=store, variant=variant, members=workload.members, distinct_states=workload.distinct_states,
        payments=run.payments, events=run.events, import_s=run.import_s, pay_s=run.pay_s, bulk_s=run.bulk_s,
        events_per_s=events_per_s, quote_s=run.quote_s, raw_rows=len(raw.rows), raw_state_bytes=state_bytes(raw.rows),
        raw_s=raw.raw_s, raw_rows_per_s=raw_rows_per_s, ratio=ratio,
        ratio_with_quote=per_s(run.events, run.bulk_s + run.quote_s) / raw_rows_per_s, target=target,
        target_met=ratio >= target, load=load(), settings=raw.settings,
        floor_commits_s=floor.commits_s, floor_chain_s=floor.chain_s, floor_full_s=floor.full_s,
        floor_commits_ratio=floor_ratio(floor.commits_s), floor_chain_ratio=floor_ratio(floor.chain_s),
        floor_full_ratio=floor_ratio(floor.full_s),
    )


# --- driving the ledger -----------------------------------------------------------------------------


def payment_plan(variant: str) -> list[Payment]:
    """``monthly``: 12 cohort payments, each inside its month; ``annual``: one for the year in advance."""
    periods = [f"{YEAR}-{m:02d}" for m in range(1, MONTHS + 1)]
    first_pay_day = IMPORTED_ON + timedelta(days=1)
    if variant == "annual":
        return [Payment(periods, first_pay_day, f"SP2D-{YEAR}-ANNUAL")]
    return [
        Payment([p], max(date(YEAR, m, PAY_DAY), first_pay_day), f"SP2D-{p}")
        for m, p in enumerate(periods, start=1)
    ]


def village_code(member: int, distinct_states: int) -> str | None:
    """No village when all members are alike; else one of ``distinct_states`` villages (0: one each)."""
    if distinct_states == 1:
        return None
    v = member if distinct_states == 0 else member % distinct_states
    return f"{REGION_CODE}.{1 + v // 9_999:02d}.{1 + v % 9_999:04d}"


def cohort_rows(members: int, distinct_states: int) -> list[tuple[int, CohortRow]]:
    """``members`` valid rows numbered like a file with a header line (line 2 onwards).

    Members in the same village are in byte-identical states, which the bulk paths decide only once
    (``bulk.REPLICATE_BY_STATE``); ``distinct_states`` sets how many such groups the cohort has.
    """
    return [
        (i + 2, CohortRow(nik=synthetic_nik(NIK_REGION, i), name=f"W{i}", role="PETANI",
                          village_code=village_code(i, distinct_states)))
        for i in range(members)
    ]


def sign_agreement(ledger: Ledger) -> None:
    execute(ledger, SignAgreement(
        agreement_id=AGREEMENT_ID, name="bench", payer_id="PEMKOT-X", payer_type=PayerType.APBD_KOTA,
        fund_source=FundSource.APBD, region_code=REGION_CODE, first_period=f"{YEAR}-01",
        last_period=f"{YEAR}-{MONTHS:02d}", budget_rp=BUDGET_RP, billing_cadence=BillingCadence.MONTHLY,
        effective_on=SIGNED_ON,
    ), BENCH_ACTOR)


def import_members(ledger: Ledger, clock: SimulatedClock, workload: Workload,
                   profiler: cProfile.Profile | None) -> float:
    """Enrol the cohort with one ``ImportCohort``; return the seconds ``execute`` took."""
    rows = cohort_rows(workload.members, workload.distinct_states)
    command = ImportCohort(agreement_id=AGREEMENT_ID, rows=rows, effective_on=IMPORTED_ON)
    clock.set_day(IMPORTED_ON)
    result, import_s = timed(lambda: execute(ledger, command, BENCH_ACTOR), profiler)
    if result["imported"] != workload.members:
        raise RuntimeError(f"imported {result['imported']} of {workload.members}: {result['rejected'][:3]}")
    return import_s


def pay(ledger: Ledger, clock: SimulatedClock, payment: Payment, members: int,
        profiler: cProfile.Profile | None) -> tuple[float, float]:
    """Quote then pay one cohort payment; return (quote seconds, pay seconds)."""
    clock.set_day(payment.paid_on)
    quote, quote_s = timed(lambda: bulk.quote_cohort(ledger, AGREEMENT_ID, payment.periods, payment.paid_on))
    command = PayCohort(agreement_id=AGREEMENT_ID, periods=payment.periods, amount_rp=quote["amount_rp"],
                        payment_reference=payment.reference, effective_on=payment.paid_on)
    result, pay_s = timed(lambda: execute(ledger, command, BENCH_ACTOR), profiler)
    if result["members_paid"] != members:
        raise RuntimeError(f"{payment.reference}: paid {result['members_paid']} of {members}: {result['skipped']}")
    return quote_s, pay_s


def run_bulk(ledger: Ledger, clock: SimulatedClock, workload: Workload, variant: str,
             profiler: cProfile.Profile | None) -> BulkRun:
    """Sign (untimed), import and pay the year; count the events written by the import and payments."""
    sign_agreement(ledger)
    after_id = ledger.store.max_notification_id()
    import_s = import_members(ledger, clock, workload, profiler)
    marks = [ledger.store.max_notification_id()]
    log(f"  imported {workload.members} members in {import_s:.2f}s")
    quote_s = pay_s = 0.0
    plan = payment_plan(variant)
    for payment in plan:
        one_quote_s, one_pay_s = pay(ledger, clock, payment, workload.members, profiler)
        quote_s += one_quote_s
        pay_s += one_pay_s
        marks.append(ledger.store.max_notification_id())
        log(f"  paid {','.join(payment.periods) if len(payment.periods) == 1 else variant} "
            f"in {one_pay_s:.2f}s (quote {one_quote_s:.2f}s)")
    last_id = ledger.store.max_notification_id()
    return BulkRun(payments=len(plan), events=last_id - after_id, after_notification_id=after_id,
                   last_notification_id=last_id, import_s=import_s, pay_s=pay_s, quote_s=quote_s, marks=marks)


def written_rows(ledger: Ledger, after_id: int, last_id: int) -> list[RawRow]:
    """The stored events with notification ids in (after_id, last_id], as the recorder returns them."""
    recorder: Any = ledger.store.recorder
    rows: list[RawRow] = []
    start = after_id + 1
    while start <= last_id:
        page = recorder.select_notifications(start=start, limit=READ_PAGE_ROWS, stop=last_id)
        if not page:
            break
        rows.extend((_as_uuid(n.originator_id), n.originator_version, n.topic, bytes(n.state)) for n in page)
        start = page[-1].id + 1
    return rows


def _as_uuid(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


# --- one variant ------------------------------------------------------------------------------------


def require_postgres(pg_url: str) -> None:
    """Stop with a clear message (before any work) when the PostgreSQL server cannot be reached."""
    try:
        with psycopg.connect(pg_url, connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        raise SystemExit(f"PostgreSQL not reachable at {pg_url}: {str(exc).strip() or type(exc).__name__}") from exc


def make_target(store: str, workdir: Path, variant: str, pg_url: str) -> Target:
    if store == "sqlite":
        return SQLiteTarget(workdir, variant)
    return PostgresTarget(workdir, variant, pg_url)


def run_variant(target: Target, workload: Workload, variant: str, profiler: cProfile.Profile | None) -> VariantResult:
    """Bulk run in a fresh store, then the raw insert of the rows it wrote into a fresh table."""
    log(f"{target.store}/{variant}: {workload.members} members, distinct states: "
        f"{workload.distinct_states or 'one per member'}, batch size {workload.batch_size}")
    clock = SimulatedClock(datetime(YEAR, 1, 2, 8, tzinfo=WIB))
    ledger = target.open_ledger(clock)
    ledger.batch_size = workload.batch_size
    try:
        run = run_bulk(ledger, clock, workload, variant, profiler)
        rows = written_rows(ledger, run.after_notification_id, run.last_notification_id)
        settings = target.ledger_settings(ledger)
        commands = with_snapshots(ledger, command_chunks(rows, run.after_notification_id, run.marks))
    finally:
        ledger.close()
    if len(rows) != run.events:
        raise RuntimeError(f"read back {len(rows)} rows but the notification ids say {run.events} events")
    raw_s, raw_settings = target.raw_insert([rows])
    log(f"  raw insert of {len(rows)} rows ({state_bytes(rows) / 1e6:.1f} MB of state) in {raw_s:.2f}s")
    floor = measure_floors(target, clock, commands)
    return variant_result(target.store, variant, workload, run, RawRun(rows, raw_s, {**settings, **raw_settings}),
                          floor)


# --- reporting --------------------------------------------------------------------------------------

COLUMNS: list[tuple[str, str, str]] = [
    # (header, attribute, format)
    ("store", "store", "{:<8}"),
    ("variant", "variant", "{:<7}"),
    ("members", "members", "{:>7,}"),
    ("events", "events", "{:>9,}"),
    ("seconds", "bulk_s", "{:>8.2f}"),
    ("events/s", "events_per_s", "{:>9,.0f}"),
    ("quote s", "quote_s", "{:>7.2f}"),
    ("raw s", "raw_s", "{:>6.2f}"),
    ("raw rows/s", "raw_rows_per_s", "{:>10,.0f}"),
    ("ratio", "ratio", "{:>6.3f}"),
    ("ratio+q", "ratio_with_quote", "{:>7.3f}"),
    ("floors", "floor_ratios", "{}"),
    ("load", "load", "{0[0]:>5.2f}"),
]


def format_table(workload: Workload, results: Sequence[VariantResult]) -> str:
    """Plain-text table, one line per store and variant, with the SQLite target verdict."""
    states = workload.distinct_states or "one per member"
    header = (f"{workload.members:,} members, distinct member states: {states}, batch size {workload.batch_size:,}, "
              f"decide once per state: {'yes' if workload.replicate_by_state else 'no'}")
    cells = [[fmt.format(getattr(r, attr)) for _, attr, fmt in COLUMNS] for r in results]
    widths = [max(len(h), *(len(row[i]) for row in cells)) for i, (h, _, _) in enumerate(COLUMNS)]
    lines = [header, ""]
    lines += ["  ".join(h.rjust(w) if i > 1 else h.ljust(w) for i, ((h, _, _), w) in enumerate(zip(COLUMNS, widths,
                                                                                                    strict=True)))]
    lines += ["  ".join(c.rjust(w) if i > 1 else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))
              for row in cells]
    lines.append("")
    lines.append("seconds = import + payments (execute only); quote s = the payments' quotes, timed apart; "
                 "ratio = events/s / raw rows/s; ratio+q = the same with the quote seconds counted; "
                 "floors = the ratios of the same rows written raw one transaction per command / through the "
                 "store with the chain / with the snapshot rows too (bench/bulk_floor.py); "
                 "load = 1-minute load average")
    for r in results:
        verdict = "met" if r.target_met else "NOT met"
        lines.append(f"{r.store}/{r.variant}: target ratio >= {r.target} {verdict} ({r.ratio:.3f}; "
                     f"with the quotes {r.ratio_with_quote:.3f})")
    return "\n".join(lines)


def rounded(values: dict[str, Any]) -> dict[str, Any]:
    """Floats to 4 decimals for JSON (seconds to 0.1 ms, rates to a fraction of a row)."""
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in values.items()}


def profile_report(profiler: cProfile.Profile, top: int, sort: str) -> str:
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).strip_dirs().sort_stats(sort).print_stats(top)
    return out.getvalue()


def save_profile(profiler: cProfile.Profile, directory: Path | None, name: str) -> None:
    if directory is None:
        return
    directory.mkdir(parents=True, exist_ok=True)
    profiler.dump_stats(directory / f"{name}.prof")
    log(f"  profile written to {directory / name}.prof")


def git_describe() -> str:
    """The commit measured (``-dirty`` when the work tree has changes), or ``?`` outside a git checkout."""
    try:
        done = subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True, text=True, timeout=10,
                              cwd=Path(__file__).resolve().parent, check=False)
    except OSError:
        return "?"
    return done.stdout.strip() or "?"


def environment(args: argparse.Namespace, workload: Workload) -> dict[str, Any]:
    return {
        **asdict(workload),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "psycopg": psycopg.__version__,
        "cpus": os.cpu_count(),
        "git": git_describe(),
        "profiled": args.profile,
        "started_at": datetime.now().astimezone().isoformat(timespec="seconds"),
    }


# --- command line -----------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.bulk_write", description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=MEMBERS_DEFAULT,
                        help=f"cohort size (default {MEMBERS_DEFAULT:,})")
    parser.add_argument("--store", choices=[*STORES, "both"], default="sqlite")
    parser.add_argument("--variant", choices=[*VARIANTS, "both"], default="both",
                        help="monthly: 12 PayCohort of one period; annual: one PayCohort of 12 periods")
    parser.add_argument("--distinct-states", type=int, default=1,
                        help="members are spread over this many villages, i.e. distinct member states "
                             "(default 1: all alike, the best case for deciding once per state; 0: one per member)")
    parser.add_argument("--no-replicate", action="store_true",
                        help="decide member by member (bulk.REPLICATE_BY_STATE = False)")
    parser.add_argument("--batch-size", type=int, default=Ledger.batch_size,
                        help=f"aggregates per transaction on the bulk paths (default {Ledger.batch_size:,})")
    parser.add_argument("--pg-url", default=PG_URL_DEFAULT, help="PostgreSQL server (a fresh schema is used per run)")
    parser.add_argument("--workdir", type=Path, default=None, help="where SQLite files go (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the SQLite files and PostgreSQL schemas")
    parser.add_argument("--json", action="store_true", help="print the results as JSON on stdout")
    parser.add_argument("--profile", action="store_true", help="cProfile the bulk path (timings are inflated)")
    parser.add_argument("--profile-top", type=int, default=25, help="functions shown per profile (default 25)")
    parser.add_argument("--profile-sort", default="tottime", help="pstats sort key (default tottime)")
    parser.add_argument("--profile-dir", type=Path, default=None,
                        help="also write each profile as DIR/<store>-<variant>.prof (for pstats, snakeviz)")
    args = parser.parse_args(argv)
    if not 1 <= args.members <= MEMBERS_MAX:
        parser.error(f"--members must be between 1 and {MEMBERS_MAX:,} (synthetic NIKs repeat above)")
    if args.batch_size < 1:
        parser.error("--batch-size must be positive")
    if args.distinct_states < 0:
        parser.error("--distinct-states must be 0 (one per member) or more")
    return args


def workload_of(args: argparse.Namespace) -> Workload:
    return Workload(members=args.members, distinct_states=args.distinct_states, batch_size=args.batch_size,
                    replicate_by_state=not args.no_replicate)


def configure_ledger(workload: Workload) -> None:
    """Module switches of the bulk paths: no progress bars; deciding once per state unless told not to."""
    bulk.SHOW_PROGRESS = False
    if not hasattr(bulk, "REPLICATE_BY_STATE"):
        if not workload.replicate_by_state:
            raise SystemExit("--no-replicate: this version of commands.bulk has no REPLICATE_BY_STATE switch")
        return
    bulk.REPLICATE_BY_STATE = workload.replicate_by_state


def selected(choice: str, options: Sequence[str]) -> list[str]:
    return list(options) if choice == "both" else [choice]


def run_all(args: argparse.Namespace, workload: Workload, workdir: Path) -> tuple[list[VariantResult], dict[str, str]]:
    """Every selected store and variant, each in fresh stores that are removed afterwards (unless ``--keep``)."""
    results: list[VariantResult] = []
    profiles: dict[str, str] = {}
    for store in selected(args.store, STORES):
        for variant in selected(args.variant, VARIANTS):
            profiler = cProfile.Profile() if args.profile else None
            target = make_target(store, workdir, variant, args.pg_url)
            try:
                results.append(run_variant(target, workload, variant, profiler))
            finally:
                if args.keep:
                    log(f"  kept: {target.location()}")
                else:
                    target.cleanup()
            if profiler is not None:
                profiles[f"{store}/{variant}"] = profile_report(profiler, args.profile_top, args.profile_sort)
                save_profile(profiler, args.profile_dir, f"{store}-{variant}")
    return results, profiles


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    workload = workload_of(args)
    configure_ledger(workload)
    if "postgres" in selected(args.store, STORES):
        require_postgres(args.pg_url)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="jamsos-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        results, profiles = run_all(args, workload, workdir)
    finally:
        if args.workdir is None and not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    print_report(args, workload, results, profiles)
    # a profiled run's timings are inflated: not a result; with --json the reader of stdout saves them
    # (bench.all does, as bench/results/bulk_write-*.json: saving here too would store each run twice)
    if not args.profile and not args.json:
        saved = save_result("bulk_write", {"environment": environment(args, workload),
                                           "results": [rounded(asdict(r)) for r in results]})
        log(f"figures saved to {saved}")
    return 0


def print_report(args: argparse.Namespace, workload: Workload, results: Sequence[VariantResult],
                 profiles: dict[str, str]) -> None:
    """Table (or JSON) on stdout; profiles on stdout after the table, on stderr with ``--json``."""
    if args.json:
        report = {"environment": environment(args, workload), "results": [rounded(asdict(r)) for r in results]}
        print(json.dumps(report, indent=2))
    else:
        print(format_table(workload, results))
        if args.profile:
            print("(profiled run: the timings above include cProfile overhead)")
    stream = sys.stderr if args.json else sys.stdout
    for name, text in profiles.items():
        print(f"\n=== profile {name}: bulk path (import + payments), top {args.profile_top} by {args.profile_sort} ===",
              file=stream)
        print(text, file=stream)


if __name__ == "__main__":
    sys.exit(main())

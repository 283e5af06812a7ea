"""A province on one box: ``--members`` workers (default 1,500,000) × 12 monthly cohort payments, ingested through
the bulk commands, every view rebuilt, every report run: peak memory, bytes per event, and whether the cost per
event at the end of the log is within 1.25 × of its cost at the first million events.

The province: 14 regencies and cities (Kalimantan Barat's codes), one funding agreement each (window 2025-01 ..
2025-12), members spread evenly, each over 122 villages and three declared income levels (366 member states per
agreement: realistic), or with ``--distinct`` every member in a state of its own (the worst case for the bulk
paths' decide-once-per-state shortcut). Members are imported in cohorts of ``--cohort-rows``; each month is one
``PayCohort`` per agreement, quoted first (quotes are timed apart and counted).

Measured, per store: ingest events/s overall and per segment (so the first ~1M events can be compared with the
last), peak RSS of this process (ingest) and of each child (``jamsos project rebuild``, each ``jamsos report``),
store bytes per event (files or relations) and state bytes per event, rebuild seconds, each report's wall time.
Targets: peak RSS < 1 GB everywhere; ≤ 250 B of state per new event; per-event cost at the end ≤ 1.25 × the cost at
1M; every report ≤ 5 s. It may take an hour per store: a benchmark, never a test.

    python -m bench.scale [--store sqlite|postgres|both] [--members 1500000] [--distinct] [--json] [--no-save]
"""

from __future__ import annotations

import argparse
import json
import resource
import sqlite3
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from bench.bulk_write import BENCH_ACTOR, PG_URL_DEFAULT, STORES, log, require_postgres, selected
from bench.common import child, commit, load, machine, save_result
from bench.rebuild import PostgresTarget, SQLiteTarget
from commands import bulk
from commands.handlers import execute
from commands.messages import CohortRow, ImportCohort, PayCohort, SignAgreement
from eventstore.bootstrap import Ledger
from eventstore.clock import WIB, SimulatedClock
from ledger.values import BillingCadence, FundSource, PayerType

MEMBERS_DEFAULT = 1_500_000
REGIONS = ("6101", "6102", "6103", "6104", "6105", "6106", "6107", "6108", "6109", "6110", "6111", "6112", "6171",
           "6172")
"""Kalimantan Barat's regencies and cities (kode wilayah)."""
VILLAGES_PER_REGION = 122
INCOMES_RP = (1_000_000, 2_500_000, 4_000_000)
PERIODS = tuple(f"2025-{m:02d}" for m in range(1, 13))
SIGNED_ON = date(2024, 12, 16)
IMPORTED_ON = date(2025, 1, 2)
PAY_DAY = 5
COHORT_ROWS_DEFAULT = 50_000
SERIALS_PER_DISTRICT = 9_999
DISTRICTS_MAX = 99
MEMBERS_PER_REGION_MAX = SERIALS_PER_DISTRICT * DISTRICTS_MAX
SEGMENT_EVENTS = 1_000_000
"""Ingest cost is reported per segment of this many events (the first is the "cost at 1M")."""
RSS_TARGET_BYTES = 1 << 30
STATE_BYTES_TARGET = 250
GROWTH_TARGET = 1.25
REPORT_TARGET_S = 5.0
REPORTS = ("members", "coverage", "balances", "claims", "reconciliation", "trial-balance", "audit", "access")
CHILD_TIMEOUT_S = 3 * 3600


def province_nik(region: str, i: int) -> str:
    """A valid-shaped NIK, distinct for every ``i`` below :data:`MEMBERS_PER_REGION_MAX` within a region: district
    (2 digits) and serial (4 digits) from ``i``, a birth date that a NIK may carry (women: day + 40)."""
    district = 1 + (i // SERIALS_PER_DISTRICT) % DISTRICTS_MAX
    day = 1 + (i // 7) % 28 + (40 if i % 2 else 0)
    month = 1 + (i // 3) % 12
    year = 60 + i % 40
    return f"{region}{district:02d}{day:02d}{month:02d}{year:02d}{1 + i % SERIALS_PER_DISTRICT:04d}"


def agreement_of(region: str) -> str:
    return f"PROV-{region}-2025"


def cohort_row(region: str, i: int, distinct: bool) -> CohortRow:
    """A member of ``region``: one of its 122 villages (Kemendagri ``61.01.DD.VVVV``) and one of three incomes, or
    with ``distinct`` a village of its own."""
    if distinct:
        district, village = 1 + (i // 8_999) % DISTRICTS_MAX, 1001 + i % 8_999
    else:
        v = i % VILLAGES_PER_REGION
        district, village = 1 + v // 10, 1001 + v % 10
    code = f"{region[:2]}.{region[2:]}.{district:02d}.{village}"
    return CohortRow(nik=province_nik(region, i), name=f"W{region}-{i}", role="PETANI", village_code=code,
                     declared_income_rp=INCOMES_RP[(i // VILLAGES_PER_REGION) % len(INCOMES_RP)])


@dataclass
class Segment:
    """Ingest commands until the log passed the next :data:`SEGMENT_EVENTS`."""

    up_to_events: int
    events: int = 0
    seconds: float = 0.0

    @property
    def us_per_event(self) -> float:
        return self.seconds / self.events * 1e6 if self.events else 0.0


@dataclass
class Ingest:
    members: int
    events: int = 0
    import_s: float = 0.0
    pay_s: float = 0.0
    quote_s: float = 0.0
    segments: list[Segment] = field(default_factory=list)

    def record(self, events_after: int, events: int, seconds: float) -> None:
        if not self.segments or self.segments[-1].up_to_events <= events_after - events:
            self.segments.append(Segment(up_to_events=(events_after // SEGMENT_EVENTS + 1) * SEGMENT_EVENTS))
        self.segments[-1].events += events
        self.segments[-1].seconds += seconds
        self.events = events_after


def run_command(ledger: Ledger, ingest: Ingest, command: Any) -> tuple[Any, float]:
    before = ledger.store.max_notification_id()
    started = time.perf_counter()
    result = execute(ledger, command, BENCH_ACTOR)
    elapsed_s = time.perf_counter() - started
    after = ledger.store.max_notification_id()
    ingest.record(after, after - before, elapsed_s)
    return result, elapsed_s


def ingest_province(ledger: Ledger, clock: SimulatedClock, members: int, distinct: bool, cohort_rows: int) -> Ingest:
    per_region = [members // len(REGIONS) + (1 if r < members % len(REGIONS) else 0) for r in range(len(REGIONS))]
    if max(per_region) > MEMBERS_PER_REGION_MAX:
        raise SystemExit(f"--members: at most {MEMBERS_PER_REGION_MAX * len(REGIONS):,} (distinct NIKs)")
    ingest = Ingest(members=members)
    clock.set_day(SIGNED_ON)
    for region, count in zip(REGIONS, per_region, strict=True):
        execute(ledger, SignAgreement(
            agreement_id=agreement_of(region), name=f"BPU rentan {region}", payer_id=f"PEMDA-{region}",
            payer_type=PayerType.APBD_KAB, fund_source=FundSource.APBD, region_code=f"{region[:2]}.{region[2:]}",
            first_period=PERIODS[0],
            last_period=PERIODS[-1], budget_rp=count * 16_800 * len(PERIODS) * 2,
            billing_cadence=BillingCadence.MONTHLY, effective_on=SIGNED_ON), BENCH_ACTOR)
    clock.set_day(IMPORTED_ON)
    for region, count in zip(REGIONS, per_region, strict=True):
        for start in range(0, count, cohort_rows):
            rows = [(line, cohort_row(region, i, distinct))
                    for line, i in enumerate(range(start, min(count, start + cohort_rows)), start=2)]
            result, seconds = run_command(ledger, ingest, ImportCohort(agreement_id=agreement_of(region), rows=rows,
                                                                       effective_on=IMPORTED_ON))
            if result["imported"] != len(rows):
                raise RuntimeError(f"{region}: imported {result['imported']} of {len(rows)}")
            ingest.import_s += seconds
        log(f"  {region}: {count:,} members imported; {ingest.events:,} events, rss {rss_bytes() >> 20} MB")
    for period in PERIODS:
        paid_on = date(int(period[:4]), int(period[5:]), PAY_DAY)
        clock.set_day(paid_on)
        for region, count in zip(REGIONS, per_region, strict=True):
            started = time.perf_counter()
            quote = bulk.quote_cohort(ledger, agreement_of(region), [period], paid_on)
            ingest.quote_s += time.perf_counter() - started
            result, seconds = run_command(ledger, ingest, PayCohort(
                agreement_id=agreement_of(region), periods=[period], amount_rp=quote["amount_rp"],
                payment_reference=f"SP2D-{region}-{period}", effective_on=paid_on))
            if result["members_paid"] != count:
                raise RuntimeError(f"{region} {period}: paid {result['members_paid']} of {count}")
            ingest.pay_s += seconds
        log(f"  {period} paid: {ingest.events:,} events, rss {rss_bytes() >> 20} MB")
    return ingest


def rss_bytes() -> int:
    """This process's peak resident set so far (Linux reports KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def store_url(target: SQLiteTarget | PostgresTarget) -> str:
    if isinstance(target, SQLiteTarget):
        return f"sqlite:///{target.path}"
    sep = "&" if "?" in target.pg_url else "?"
    return f"{target.pg_url}{sep}schema={target.schema}"


def state_bytes_per_event(target: SQLiteTarget | PostgresTarget) -> float:
    """Mean stored state bytes of an event, read from the library's events table by the driver."""
    if isinstance(target, SQLiteTarget):
        conn = sqlite3.connect(str(target.path))
        try:
            return float(conn.execute("SELECT avg(length(state)) FROM stored_events").fetchone()[0])
        finally:
            conn.close()
    from eventstore.store import open_store

    store = open_store(store_url(target))
    try:
        table = store.recorder.events_table_name  # the project's PostgreSQL store names its own (jamsos_events)
    finally:
        store.close()
    with psycopg.connect(target.pg_url) as pg:
        query = sql.SQL("SELECT avg(octet_length(state)) FROM {}.{}").format(sql.Identifier(target.schema),
                                                                            sql.Identifier(table))
        row = pg.execute(query).fetchone()
        return float(row[0]) if row else float("nan")


def store_bytes(target: SQLiteTarget | PostgresTarget) -> int:
    settings = target.settings()
    if isinstance(target, SQLiteTarget):
        return sum(p.stat().st_size for p in target.directory.iterdir() if p.name.startswith("ledger.db"))
    return int(settings.get("schema_bytes", 0))


def run_store(kind: str, members: int, distinct: bool, cohort_rows: int, pg_url: str, workdir: Path,
              keep: bool = False, reuse: bool = False) -> dict[str, Any]:
    """Ingest, rebuild and report on one store; with ``reuse`` (SQLite) skip the ingest and rebuild and report
    on the store an earlier ``--keep`` run left in ``workdir`` (its views removed first)."""
    target: SQLiteTarget | PostgresTarget
    if reuse:
        kept = SQLiteTarget(workdir, existing=True)
        for old_views in kept.directory.glob("ledger.views.db*"):
            old_views.unlink()
        target = kept
    else:
        target = SQLiteTarget(workdir) if kind == "sqlite" else PostgresTarget(workdir, pg_url)
    clock = SimulatedClock(datetime(SIGNED_ON.year, SIGNED_ON.month, SIGNED_ON.day, 8, tzinfo=WIB))
    ledger = target.open_ledger(clock)
    bulk.SHOW_PROGRESS = False
    try:
        started = time.perf_counter()
        if reuse:
            ingest = Ingest(members=members, events=ledger.store.max_notification_id())
        else:
            ingest = ingest_province(ledger, clock, members, distinct, cohort_rows)
        ingest_s = time.perf_counter() - started
        ledger.close()
        state_per_event = state_bytes_per_event(target)
        total_bytes = store_bytes(target)
        url = store_url(target)
        cli = [sys.executable, "-m", "cli"]
        log("  rebuilding every view")
        rebuild = child([*cli, "project", "rebuild", "--store", url])
        reports = {}
        for name in REPORTS:
            scope = ["--agreement", agreement_of(REGIONS[0])] if name == "reconciliation" else []
            reports[name] = child([*cli, "report", name, *scope, "--json", "--store", url, "--on", "2025-12-31"])
            log(f"  report {name}: {reports[name]['wall_s']:.1f} s, {reports[name]['peak_rss_bytes'] >> 20} MB")
        shown = agreement_of(REGIONS[0])  # its member figures are aggregated over the registers as the reports are
        reports["agreement show"] = child([*cli, "agreement", "show", shown, "--json", "--store", url, "--on",
                                           "2025-12-31"])
        log(f"  agreement show {shown}: {reports['agreement show']['wall_s']:.1f} s, "
            f"{reports['agreement show']['peak_rss_bytes'] >> 20} MB")
        segments = [s for s in ingest.segments if s.events]
        first, last = (segments[0], segments[-1]) if segments else (Segment(0), Segment(0))
        growth = last.us_per_event / first.us_per_event if first.us_per_event else float("nan")
        return {
            "store": kind, "members": members, "distinct": distinct, "events": ingest.events,
            # with reuse no ingest was timed: its figures are the kept run's (its log), not this one's
            "ingest_s": None if reuse else round(ingest_s, 1),
            "ingest_events_per_s": None if reuse else round(ingest.events / ingest_s),
            "import_s": round(ingest.import_s, 1), "pay_s": round(ingest.pay_s, 1), "quote_s": round(ingest.quote_s, 1),
            "segments": [asdict(s) | {"us_per_event": round(s.us_per_event, 2)} for s in segments],
            "cost_growth_last_vs_first": round(growth, 3), "growth_target": GROWTH_TARGET,
            "ingest_peak_rss_bytes": rss_bytes(), "rss_target_bytes": RSS_TARGET_BYTES,
            "store_bytes": total_bytes, "store_bytes_per_event": round(total_bytes / max(1, ingest.events), 1),
            "state_bytes_per_event": round(state_per_event, 1), "state_bytes_target": STATE_BYTES_TARGET,
            "rebuild": rebuild, "reports": reports, "report_target_s": REPORT_TARGET_S,
        }
    finally:
        if not keep:
            target.cleanup()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", choices=[*STORES, "both"], default="both")
    parser.add_argument("--members", type=int, default=MEMBERS_DEFAULT)
    parser.add_argument("--distinct", action="store_true", help="every member in a state of its own")
    parser.add_argument("--cohort-rows", type=int, default=COHORT_ROWS_DEFAULT, help="rows per ImportCohort")
    parser.add_argument("--pg-url", default=PG_URL_DEFAULT)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--no-save", action="store_true")
    parser.add_argument("--keep", type=Path, metavar="DIR",
                        help="build the stores in DIR (made if missing) and keep them there afterwards, to look at")
    parser.add_argument("--reuse", type=Path, metavar="DIR",
                        help="SQLite: no ingest; rebuild every view and run every report on the store a --keep run "
                             "left in DIR (after a change to the views or reports)")
    args = parser.parse_args(argv)
    if args.reuse is not None and args.store != "sqlite":
        parser.error("--reuse: only with --store sqlite")
    if args.members < len(REGIONS):
        parser.error(f"--members: at least {len(REGIONS)} (one per regency)")
    kinds = selected(args.store, STORES)
    if "postgres" in kinds:
        require_postgres(args.pg_url)
    if args.reuse is not None:
        results = [run_store("sqlite", args.members, args.distinct, args.cohort_rows, args.pg_url, args.reuse,
                             keep=True, reuse=True)]
    elif args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
        results = [run_store(kind, args.members, args.distinct, args.cohort_rows, args.pg_url, args.keep, keep=True)
                   for kind in kinds]
    else:
        with tempfile.TemporaryDirectory(prefix="jamsos-bench-scale-") as work:
            results = [run_store(kind, args.members, args.distinct, args.cohort_rows, args.pg_url, Path(work))
                       for kind in kinds]
    out = {"commit": commit(), "machine": machine(), "load_after": load(), "results": results,
           **({"reused": str(args.reuse)} if args.reuse is not None else {})}
    if not args.no_save:
        print(f"saved {save_result('scale', out)}", file=sys.stderr)
    if args.json or args.reuse is not None:  # a reuse has no ingest figures for the summary line
        print(json.dumps(out, indent=2))
        return
    for r in results:
        print(f"{r['store']}: {r['members']:,} members, {r['events']:,} events in {r['ingest_s']:,.0f} s "
              f"({r['ingest_events_per_s']:,} ev/s; quotes {r['quote_s']:.0f} s); cost growth "
              f"{r['cost_growth_last_vs_first']:.2f} (≤ {GROWTH_TARGET}); ingest peak RSS "
              f"{r['ingest_peak_rss_bytes'] >> 20} MB; store {r['store_bytes_per_event']:.0f} B/event, state "
              f"{r['state_bytes_per_event']:.0f} B/event (≤ {STATE_BYTES_TARGET}); rebuild "
              f"{r['rebuild']['wall_s']:.0f} s {r['rebuild']['peak_rss_bytes'] >> 20} MB")
        for name, rep in r["reports"].items():
            print(f"  report {name:<15} {rep['wall_s']:7.2f} s  {rep['peak_rss_bytes'] >> 20:6} MB  exit {rep['exit']}")


if __name__ == "__main__":
    main()

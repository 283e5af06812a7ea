"""One member payment at a time, in process: ``execute(PayContribution)`` against the plain library saving one
aggregate per transaction on the same kind of store, in the same run.

For each store (SQLite, PostgreSQL), in a fresh store:

1. sign one agreement and enrol ``--members`` workers with one ``ImportCohort`` (not timed);
2. pay January for ``--payments`` of them, one ``commands.handlers.execute(PayContribution)`` each (the first
   ``--warmup`` not counted), each timed on its own: payments/s, p50, p99;
3. the baseline: an ``eventsourcing.application.Application`` with the same persistence settings
   (``StoreSettings.library_env()``: the same SQLite pragmas, the same PostgreSQL pool and lock timeout) in a
   fresh file or schema, saving one new aggregate (one event) per transaction, as many times: saves/s.

Targets (the performance issue): payments/s >= 0.5 x saves/s; p99 <= 5 ms on SQLite, <= 10 ms on PostgreSQL.
The figures go to ``bench/results/single-*.json`` (:func:`bench.common.save_result`).

    python -m bench.single [--store sqlite|postgres|both] [--members 2000] [--payments 500] [--json]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import psycopg
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from psycopg import sql

from bench.bulk_floor import CommandRows, command_chunks, with_snapshots, write_through_store
from bench.bulk_targets import Target
from bench.bulk_write import (
    AGREEMENT_ID,
    BENCH_ACTOR,
    NIK_REGION,
    PG_URL_DEFAULT,
    STORES,
    YEAR,
    Workload,
    import_members,
    log,
    make_target,
    require_postgres,
    selected,
    sign_agreement,
    written_rows,
)
from bench.common import load, save_result
from cli.seed_demo import synthetic_nik
from commands import bulk
from commands.handlers import execute
from commands.messages import PayContribution
from eventstore.clock import WIB, SimulatedClock
from eventstore.settings import StoreSettings

RATIO_TARGET = 0.5
P99_TARGET_MS = {"sqlite": 5.0, "postgres": 10.0}
PAID_ON = date(YEAR, 1, 7)


class Plain(Aggregate):
    """The plain library's aggregate: one event when created."""

    @event("Registered")
    def __init__(self, name: str) -> None:
        self.name = name


class PlainApp(Application[Any]):
    name = "PlainBench"


@dataclass
class SingleResult:
    store: str
    members: int
    payments: int
    payments_per_s: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    plain_saves_per_s: float
    ratio: float
    p99_target_ms: float
    ratio_met: bool
    p99_met: bool
    load: list[float]
    events: int = 0
    """Events the counted payments wrote."""
    floor_chain_per_s: float = 0.0
    floor_full_per_s: float = 0.0
    """The counted payments' very rows written again by the store alone, one transaction per payment
    (:func:`bench.bulk_floor.write_through_store`): events and chain, then with the snapshot rows too."""
    floor_chain_ratio: float = 0.0
    floor_full_ratio: float = 0.0
    """Each floor over the plain library's saves/s: the best ratio a payment writing those rows could reach."""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


@dataclass(frozen=True)
class PaidOneByOne:
    timings: list[float]
    """Seconds of each counted ``execute``."""
    url: str
    """The store's URL (the plain library's environment comes from the same settings)."""
    events: int
    floor_chain_s: float
    floor_full_s: float


def pay_one_by_one(store: str, workdir: Path, pg_url: str, members: int, payments: int, warmup: int) -> PaidOneByOne:
    """Each counted payment timed, then its rows written again by the store alone (the floors)."""
    target = make_target(store, workdir, "single", pg_url)
    clock = SimulatedClock(datetime(YEAR, 1, 2, 8, tzinfo=WIB))
    try:
        timings, url, commands = _pay_and_collect(target, clock, members, payments, warmup)
        chain_s = write_through_store(target, clock, "floor_chain", commands, snapshots=False)
        full_s = write_through_store(target, clock, "floor_full", commands, snapshots=True)
    finally:
        target.cleanup()
    return PaidOneByOne(timings, url, sum(len(c.events) for c in commands), chain_s, full_s)


def _pay_and_collect(target: Target, clock: SimulatedClock, members: int, payments: int, warmup: int
                     ) -> tuple[list[float], str, list[CommandRows]]:
    """The timed payments in a fresh ledger of ``target``, and each counted payment's rows (for the floors)."""
    ledger = target.open_ledger(clock)
    url = ledger.store.settings.url
    try:
        sign_agreement(ledger)
        import_members(ledger, clock, Workload(members, 1, ledger.batch_size, True), None)
        clock.set_day(PAID_ON)
        quote = bulk.quote_cohort(ledger, AGREEMENT_ID, [f"{YEAR}-01"], PAID_ON)
        rate = quote["amount_rp"] // quote["members_payable"]
        timings = []
        marks: list[int] = []
        for k in range(warmup + payments):
            if k == warmup:
                first_id = ledger.store.max_notification_id()
            command = PayContribution(nik=synthetic_nik(NIK_REGION, k), periods=[f"{YEAR}-01"], amount_rp=rate,
                                      payment_reference=f"R-{k}", command_id=f"pay-{k}", effective_on=PAID_ON)
            start = time.perf_counter()
            execute(ledger, command, BENCH_ACTOR)
            if k >= warmup:
                timings.append(time.perf_counter() - start)
                marks.append(ledger.store.max_notification_id())
        rows = written_rows(ledger, first_id, marks[-1])
        commands = with_snapshots(ledger, command_chunks(rows, first_id, marks))
    finally:
        ledger.close()
    assert len(commands) == payments, "every payment wrote at least one event"
    return timings, url, commands


def plain_saves_per_s(url: str, workdir: Path, saves: int, warmup: int) -> float:
    """The plain library on the same settings as the store at ``url``, in a file or schema of its own."""
    settings = StoreSettings.from_url(url)
    env = settings.library_env()
    schema = None
    if settings.kind == "sqlite":
        env["SQLITE_DBNAME"] = str(workdir / "plain.db")
    else:
        schema = f"bench_plain_{time.time_ns() % 10**10}"
        env["POSTGRES_SCHEMA"] = schema
        with psycopg.connect(url.split("?")[0], autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    app = PlainApp(env=env)
    try:
        for k in range(warmup):
            app.save(Plain(f"w{k}"))
        start = time.perf_counter()
        for k in range(saves):
            app.save(Plain(f"n{k}"))
        elapsed = time.perf_counter() - start
    finally:
        app.close()
        if schema is not None:
            with psycopg.connect(url.split("?")[0], autocommit=True) as conn:
                conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
    return saves / elapsed


def run_store(store: str, workdir: Path, args: argparse.Namespace) -> SingleResult:
    log(f"{store}: {args.members} members, {args.payments} single payments after {args.warmup} warm-up")
    paid = pay_one_by_one(store, workdir, args.pg_url, args.members, args.payments, args.warmup)
    timings = paid.timings
    plain = plain_saves_per_s(paid.url, workdir, args.payments, args.warmup)
    per_s = len(timings) / sum(timings)
    p99 = percentile(timings, 0.99) * 1000
    ratio = per_s / plain
    chain_per_s, full_per_s = len(timings) / paid.floor_chain_s, len(timings) / paid.floor_full_s
    return SingleResult(store, args.members, len(timings), per_s, statistics.median(timings) * 1000, p99,
                        max(timings) * 1000, plain, ratio, P99_TARGET_MS[store], ratio >= RATIO_TARGET,
                        p99 <= P99_TARGET_MS[store], load(), events=paid.events, floor_chain_per_s=chain_per_s,
                        floor_full_per_s=full_per_s, floor_chain_ratio=chain_per_s / plain,
                        floor_full_ratio=full_per_s / plain)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.single", description=__doc__.splitlines()[0])
    parser.add_argument("--store", choices=[*STORES, "both"], default="both")
    parser.add_argument("--members", type=int, default=2_000)
    parser.add_argument("--payments", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--pg-url", default=PG_URL_DEFAULT)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.warmup + args.payments > args.members:
        parser.error("--warmup + --payments must not exceed --members (each member is paid once)")
    bulk.SHOW_PROGRESS = False
    if "postgres" in selected(args.store, STORES):
        require_postgres(args.pg_url)
    workdir = Path(tempfile.mkdtemp(prefix="jamsos-bench-single-"))
    try:
        results = [run_store(store, workdir, args) for store in selected(args.store, STORES)]
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    figures = {"results": [asdict(r) for r in results]}
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        print(f"{'store':<8} {'payments/s':>10} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} {'plain saves/s':>13} "
              f"{'ratio':>6} {'floors':>9} {'load':>5}")
        for r in results:
            print(f"{r.store:<8} {r.payments_per_s:>10,.0f} {r.p50_ms:>7.2f} {r.p99_ms:>7.2f} {r.max_ms:>7.1f} "
                  f"{r.plain_saves_per_s:>13,.0f} {r.ratio:>6.3f} {r.floor_chain_ratio:>4.2f}/{r.floor_full_ratio:.2f}"
                  f" {r.load[0]:>5.2f}")
        print(f"floors: the payments' own rows ({results[0].events / results[0].payments:.1f} events a payment) "
              "written again by the store alone, one transaction each: events and chain / with the snapshot rows "
              "too, over the plain library's saves/s")
        for r in results:
            print(f"{r.store}: ratio >= {RATIO_TARGET} {'met' if r.ratio_met else 'NOT met'}, "
                  f"p99 <= {r.p99_target_ms} ms {'met' if r.p99_met else 'NOT met'}")
    log(f"figures saved to {save_result('single', figures)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

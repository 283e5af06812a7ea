"""Single commands in process: ``execute(PayContribution)`` of one member, one after another, beside the plain
eventsourcing library saving one aggregate per transaction on the same kind of store, in the same run.

For each store (SQLite file, PostgreSQL schema), fresh:

1. **the plain library** (the floor): an ``eventsourcing.application.Application`` with the same persistence
   module, a one-event aggregate (``Paid``), ``--commands`` saves of a new aggregate each, one transaction each;
2. **the ledger**: one agreement and ``--commands`` members (imported in one cohort, not timed), then one
   ``PayContribution`` per member through ``commands.handlers.execute`` (validation, authorisation, the member's
   state, the decision, events + snapshot row + audit chain row in one transaction), timed per command.

Prints both rates, their ratio (target ≥ 0.5) and the ledger's p50 / p99 per command (targets: p99 ≤ 5 ms on
SQLite, ≤ 10 ms on PostgreSQL). One thread: what one command costs, not what a server with clients does
(bench/api.py).

    python -m bench.execute [--store sqlite|postgres|both] [--commands 2000] [--json] [--no-save]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import date, datetime
from pathlib import Path
from typing import Any

import psycopg
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

from bench.bulk_write import PG_URL_DEFAULT, STORES, require_postgres, selected
from bench.common import commit, load, machine, save_result
from cli.seed_demo import synthetic_nik
from commands.authorise import local_actor
from commands.handlers import execute
from commands.messages import CohortRow, ImportCohort, PayContribution, SignAgreement
from eventstore.bootstrap import bootstrap
from eventstore.clock import WIB, SimulatedClock
from ledger.values import FundSource, PayerType

COMMANDS_DEFAULT = 2_000
RATE_RP = 16_800
AGREEMENT_ID = "BENCH-EXEC-2025"
REGION = "61.72"
PAY_DAY = date(2025, 1, 7)
RATIO_TARGET = 0.5
P99_TARGET_MS = {"sqlite": 5.0, "postgres": 10.0}


def percentile(sorted_values: list[float], pct: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * pct / 100))]


class Payment(Aggregate):
    """The plain library's aggregate: one event, created and saved in one transaction."""

    @event("Paid")
    def __init__(self, nik: str, period: str, amount_rp: int) -> None:
        self.nik, self.period, self.amount_rp = nik, period, amount_rp


def plain_library(kind: str, folder: Path, pg_url: str, commands: int) -> dict[str, Any]:
    """The floor: the library's own application saving one new aggregate per transaction."""
    env: dict[str, str]
    schema = f"bench_plain_{uuid.uuid4().hex[:10]}"
    if kind == "sqlite":
        env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(folder / "plain.db")}
    else:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")
        info = psycopg.conninfo.conninfo_to_dict(pg_url)
        env = {"PERSISTENCE_MODULE": "eventsourcing.postgres", "POSTGRES_DBNAME": str(info.get("dbname", "test")),
               "POSTGRES_HOST": str(info.get("host", "127.0.0.1")), "POSTGRES_PORT": str(info.get("port", 5432)),
               "POSTGRES_USER": str(info.get("user", "postgres")), "POSTGRES_PASSWORD": str(info.get("password", "")),
               "POSTGRES_SCHEMA": schema}
    app: Application[Any] = Application(env=env)
    try:
        times = []
        for i in range(commands):
            started = time.perf_counter()
            app.save(Payment(nik=synthetic_nik("6172", i), period="2025-01", amount_rp=RATE_RP))
            times.append(time.perf_counter() - started)
        return summary(times)
    finally:
        app.close()
        if kind == "postgres":
            with psycopg.connect(pg_url, autocommit=True) as conn:
                conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def ledger_payments(kind: str, folder: Path, pg_url: str, commands: int) -> dict[str, Any]:
    schema = f"bench_exec_{uuid.uuid4().hex[:10]}"
    url = str(folder / "ledger.db") if kind == "sqlite" else f"{pg_url}{'&' if '?' in pg_url else '?'}schema={schema}"
    os.environ["JAMSOS_KEY_FILE"] = str(folder / "ledger.key")
    clock = SimulatedClock(datetime(2025, 1, 2, 8, tzinfo=WIB))
    ledger = bootstrap(url, clock=clock)
    admin = local_actor()
    try:
        execute(ledger, SignAgreement(
            agreement_id=AGREEMENT_ID, name="Benchmark", payer_id="PEMKOT-BENCH", payer_type=PayerType.APBD_KOTA,
            fund_source=FundSource.APBD, region_code=REGION, first_period="2025-01", last_period="2025-12",
            budget_rp=10**13, effective_on=date(2025, 1, 2)), admin)
        niks = [synthetic_nik("6172", i) for i in range(commands)]
        clock.set_day(date(2025, 1, 6))
        execute(ledger, ImportCohort(agreement_id=AGREEMENT_ID, region_code=REGION, effective_on=date(2025, 1, 6),
                                     rows=[(i + 2, CohortRow(nik=n, name=f"P{i}", role="PETANI"))
                                           for i, n in enumerate(niks)]), admin)
        clock.set_day(PAY_DAY)
        times = []
        for i, nik in enumerate(niks):
            command = PayContribution(nik=nik, periods=["2025-01"], amount_rp=RATE_RP,
                                      payment_reference=f"SP2D-EXEC-{i}", effective_on=PAY_DAY)
            started = time.perf_counter()
            execute(ledger, command, admin)
            times.append(time.perf_counter() - started)
        return summary(times)
    finally:
        ledger.close()
        if kind == "postgres":
            with psycopg.connect(pg_url, autocommit=True) as conn:
                conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def summary(times_s: list[float]) -> dict[str, Any]:
    ordered = sorted(t * 1000 for t in times_s)
    return {"commands": len(ordered), "per_s": round(len(ordered) / sum(times_s), 1),
            "p50_ms": round(statistics.median(ordered), 3), "p99_ms": round(percentile(ordered, 99), 3),
            "max_ms": round(ordered[-1], 3)}


def run(kind: str, commands: int, pg_url: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="jamsos-bench-execute-") as work:
        plain = plain_library(kind, Path(work), pg_url, commands)
        ledger = ledger_payments(kind, Path(work), pg_url, commands)
    return {"store": kind, "plain_library": plain, "ledger": ledger,
            "ratio": round(ledger["per_s"] / plain["per_s"], 3), "ratio_target": RATIO_TARGET,
            "p99_target_ms": P99_TARGET_MS[kind]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", choices=[*STORES, "both"], default="both")
    parser.add_argument("--commands", type=int, default=COMMANDS_DEFAULT)
    parser.add_argument("--pg-url", default=PG_URL_DEFAULT)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args(argv)
    kinds = selected(args.store, STORES)
    if "postgres" in kinds:
        require_postgres(args.pg_url)
    results = [run(kind, args.commands, args.pg_url) for kind in kinds]
    out: dict[str, Any] = {"commit": commit(), "machine": machine(), "results": results, "load_after": load()}
    if not args.no_save:
        print(f"saved {save_result('execute', out)}", file=sys.stderr)
    if args.json:
        print(json.dumps(out, indent=2))
        return
    for r in out["results"]:
        p, led = r["plain_library"], r["ledger"]
        print(f"{r['store']:8} plain library {p['per_s']:8,.0f}/s (p99 {p['p99_ms']:.2f} ms)   ledger execute "
              f"{led['per_s']:8,.0f}/s (p50 {led['p50_ms']:.2f}, p99 {led['p99_ms']:.2f} ms; target "
              f"≤ {r['p99_target_ms']:g})   ratio {r['ratio']:.2f} (target ≥ {RATIO_TARGET})")


if __name__ == "__main__":
    main()

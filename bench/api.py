"""HTTP API benchmark: single payments over HTTP beside the in-process ``execute()`` of the same commands, and
report reads of the demo store beside building the same report in process (first reads, and reads again).

For each store (SQLite, PostgreSQL), in a fresh store:

1. sign one agreement and enrol ``2 × --payments`` members with one ``ImportCohort`` (not timed);
2. **in process**: ``--clients`` threads run ``execute(PayContribution)`` for the first half of the members (one
   payment of one month each), timed per command;
3. **over HTTP**: ``jamsos serve`` in its own process (real uvicorn on loopback, one worker), ``--clients`` client
   threads (httpx, keep-alive) POST the same kind of payment for the other half, timed per request;
4. prints throughput (payments/s) of both, their ratio (target ≥ 0.5), and the HTTP p50/p95/p99 (target p99 ≤ 25 ms);
5. the floor: ``GET /healthz`` (no store, no body) from the same clients — what the HTTP stack and the clients cost
   on this machine by themselves.

Then, on a demo store (``jamsos demo``, or ``--demo-store`` to reuse one), every report is built once in process
(the floor of a first read), read once over HTTP (it is built: a report-cache miss) and read again ``--reads`` times
with no write between (kept by the log's head): target HTTP p95 ≤ 200 ms.

Run on demand (this is not a test)::

    python -m bench.api --store sqlite|postgres|both [--payments 1000] [--clients 16] [--reads 20]
                        [--demo-store demo/jamsos.db] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import httpx

from bench.common import REPO, commit, copy_store, machine
from cli.seed_demo import DEMO_END, SCHEMES, synthetic_nik
from commands.authorise import local_actor, new_token
from commands.handlers import execute
from commands.messages import AddPrincipal, CohortRow, ImportCohort, PayContribution, SignAgreement
from eventstore.bootstrap import bootstrap
from eventstore.clock import WIB, SimulatedClock
from ledger.values import FundSource, PayerType, Role
from projections.reports import build_report

AGREEMENT_ID = "BENCH-API-2025"
REGION = "61.72"
PAY_DAY = date(2025, 1, 7)
RATE_RP = 16_800
SERVER_START_TIMEOUT_S = 60.0
REQUEST_TIMEOUT_S = 60.0
REPORTS = ("members", "balances", "claims", "coverage", "trial-balance", "audit", "access")
PG_URL = os.environ.get("JAMSOS_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


@dataclass
class Timing:
    """Per-operation latencies of one run, in milliseconds, and the wall time of the whole run."""

    count: int
    wall_s: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float

    @property
    def per_s(self) -> float:
        return self.count / self.wall_s if self.wall_s else 0.0

    @classmethod
    def of(cls, latencies_s: Sequence[float], wall_s: float) -> Timing:
        ms = sorted(x * 1000 for x in latencies_s)
        return cls(len(ms), wall_s, _pct(ms, 50), _pct(ms, 95), _pct(ms, 99), ms[-1] if ms else 0.0)


def _pct(sorted_ms: Sequence[float], pct: float) -> float:
    if not sorted_ms:
        return 0.0
    k = max(0, min(len(sorted_ms) - 1, round(pct / 100 * len(sorted_ms) + 0.5) - 1))
    return sorted_ms[k]


def in_threads(clients: int, items: Sequence[Any], work: Callable[[Any], None]) -> tuple[list[float], float]:
    """Run ``work`` over ``items`` from ``clients`` threads; the latency of each call and the wall time."""
    latencies: list[float] = []
    lock = threading.Lock()
    chunks = [items[i::clients] for i in range(clients)]
    errors: list[BaseException] = []

    def worker(chunk: Sequence[Any]) -> None:
        mine = []
        try:
            for item in chunk:
                started = time.perf_counter()
                work(item)
                mine.append(time.perf_counter() - started)
        except BaseException as err:  # report it after the run
            errors.append(err)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker, args=(c,)) for c in chunks]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    if errors:
        raise errors[0]
    return latencies, wall


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def server(store_url: str, env: dict[str, str]) -> Iterator[str]:
    """``jamsos serve`` in its own process on a free loopback port; yields the base URL once /readyz answers."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "cli", "serve", "--store", store_url, "--port", str(port),
                             "--log-level", "warning"], cwd=REPO, env=env, stdout=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"jamsos serve did not start (exit {proc.poll()})")
            time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def store_for(kind: str, folder: Path) -> str:
    if kind == "sqlite":
        return str(folder / "bench.db")
    return f"{PG_URL}?schema=bench_{uuid.uuid4().hex[:10]}"


def _create_schema(url: str) -> None:
    import psycopg

    base, _, schema = url.partition("?schema=")
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")


def _drop_schema(url: str) -> None:
    import psycopg

    base, _, schema = url.partition("?schema=")
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


WRK_DONE = r"""
done = function(summary, latency, requests)
  io.write(string.format('{"requests": %d, "duration_us": %d, "non2xx": %d, "socket_errors": %d, ' ..
    '"p50_us": %d, "p95_us": %d, "p99_us": %d, "max_us": %d}\n', summary.requests, summary.duration,
    summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write +
    summary.errors.timeout, latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max))
end
"""
WRK_SCRIPT = r"""
local niks = {@NIKS@}
local token = "@TOKEN@"
local counter = 0
function setup(thread)
  thread:set("offset", counter)
  counter = counter + 1
end
function init(args)
  step = tonumber(args[1])
  i = offset
end
request = function()
  local k = (i % #niks) + 1
  i = i + step
  local body = string.format('{"nik":"%s","periods":["2025-01"],"amount_rp":@RATE@,' ..
    '"payment_reference":"SP2D-WRK-%d","effective_on":"@DAY@"}', niks[k], i)
  return wrk.format("POST", "/api/v1/contributions", {["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. token, ["Idempotency-Key"] = "wrk-" .. i}, body)
end
""" + WRK_DONE
"""The load generator for ``--load wrk``: each of its threads takes every ``step``-th member, one payment each; a
member paid twice (the run outlasted the members) answers 409 and is counted in ``non2xx``."""
WRK_THREADS = 2
WRK_MEMBERS_MIN = 5000
"""Members enrolled for the wrk run: more than it pays in WRK_DURATION_S on this machine."""
WRK_DURATION_S = 5


def wrk_run(base: str, clients: int, script: str | None, path: str = "/") -> Timing:
    """wrk (a C load generator: the client costs little CPU) for ``WRK_DURATION_S`` with ``clients`` connections."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(script or WRK_SCRIPT_GET)
    out = subprocess.run(["wrk", "-t", str(WRK_THREADS), "-c", str(clients), "-d", f"{WRK_DURATION_S}s",
                          "--timeout", "30s", "-s", fh.name, base + path, "--", str(WRK_THREADS)],
                         capture_output=True, text=True, check=True).stdout
    os.unlink(fh.name)
    try:
        figures = json.loads(out.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise RuntimeError(f"wrk printed no figures:\n{out}") from None
    if figures["non2xx"] or figures["socket_errors"]:
        raise RuntimeError(f"wrk: {figures['non2xx']} non-2xx responses, {figures['socket_errors']} socket errors")
    wall_s = figures["duration_us"] / 1e6
    return Timing(figures["requests"], wall_s, figures["p50_us"] / 1000, figures["p95_us"] / 1000,
                  figures["p99_us"] / 1000, figures["max_us"] / 1000)


WRK_SCRIPT_GET = WRK_DONE


def payments(kind: str, members: int, clients: int, load: str = "wrk") -> dict[str, Any]:
    """Steps 1-5 of the module's docstring on a fresh ``kind`` store."""
    folder = Path(tempfile.mkdtemp(prefix="jamsos-bench-api-"))
    url = store_for(kind, folder)
    if kind == "postgres":
        _create_schema(url)
    env = {**os.environ, "JAMSOS_KEY_FILE": str(folder / "bench.key"),
           "JAMSOS_CLOCK": datetime(PAY_DAY.year, PAY_DAY.month, PAY_DAY.day, 9, tzinfo=WIB).isoformat()}
    previous_key_file = os.environ.get("JAMSOS_KEY_FILE")
    os.environ["JAMSOS_KEY_FILE"] = env["JAMSOS_KEY_FILE"]
    try:
        ledger = bootstrap(url, clock=SimulatedClock(datetime(2025, 1, 2, 8, tzinfo=WIB)))
        admin = local_actor()
        execute(ledger, SignAgreement(
            agreement_id=AGREEMENT_ID, name="Benchmark", payer_id="PEMKOT-BENCH", payer_type=PayerType.APBD_KOTA,
            fund_source=FundSource.APBD, region_code=REGION, first_period="2025-01", last_period="2025-12",
            budget_rp=10**13, effective_on=date(2025, 1, 2)), admin)
        http_members = members if load == "python" else max(members, WRK_MEMBERS_MIN)
        niks = [synthetic_nik("6172", 500_000 + i) for i in range(members + http_members)]
        rows = [(i + 2, CohortRow(nik=n, name=f"Peserta {i}", role="PETANI")) for i, n in enumerate(niks)]
        ledger.clock.set_day(date(2025, 1, 6))  # type: ignore[attr-defined]
        execute(ledger, ImportCohort(agreement_id=AGREEMENT_ID, region_code=REGION, rows=rows,
                                     effective_on=date(2025, 1, 6)), admin)
        token, digest = new_token("bench-operator")
        execute(ledger, AddPrincipal(name="bench-operator", roles=[Role.OPERATOR], token_sha256=digest), admin)
        ledger.clock.set_day(PAY_DAY)  # type: ignore[attr-defined]

        def pay_in_process(i: int) -> None:
            execute(ledger, PayContribution(nik=niks[i], periods=["2025-01"], amount_rp=RATE_RP,
                                            payment_reference=f"SP2D-IN-{i}", effective_on=PAY_DAY), admin)

        latencies, wall = in_threads(clients, list(range(members)), pay_in_process)
        in_process = Timing.of(latencies, wall)
        ledger.close()

        local = threading.local()
        with server(url, env) as base:
            if load == "wrk":
                script = (WRK_SCRIPT.replace("@NIKS@", ",".join(f'"{n}"' for n in niks[members:]))
                          .replace("@TOKEN@", token).replace("@RATE@", str(RATE_RP)).replace("@DAY@", str(PAY_DAY)))
                over_http = wrk_run(base, clients, script, "/api/v1/contributions")
                floor = wrk_run(base, clients, None, "/healthz")
                return _payment_figures(kind, members, clients, load, in_process, over_http, floor)

            def pay_over_http(i: int) -> None:
                http = getattr(local, "client", None)
                if http is None:
                    http = local.client = httpx.Client(base_url=base, timeout=REQUEST_TIMEOUT_S, headers={
                        "Authorization": f"Bearer {token}"})
                response = http.post("/api/v1/contributions", json={
                    "nik": niks[i], "periods": ["2025-01"], "amount_rp": RATE_RP,
                    "payment_reference": f"SP2D-HTTP-{i}", "effective_on": str(PAY_DAY)},
                    headers={"Idempotency-Key": f"bench-pay-{i}"})
                if response.status_code != 200:
                    raise RuntimeError(f"payment {i}: {response.status_code} {response.text[:300]}")

            latencies, wall = in_threads(clients, list(range(members, 2 * members)), pay_over_http)
            over_http = Timing.of(latencies, wall)

            def probe(_: int) -> None:  # the floor: the HTTP stack and the clients alone, no store
                http = getattr(local, "client", None)
                if http is None:
                    http = local.client = httpx.Client(base_url=base, timeout=REQUEST_TIMEOUT_S)
                if http.get("/healthz").status_code != 200:
                    raise RuntimeError("healthz failed")

            latencies, wall = in_threads(clients, list(range(members)), probe)
            floor = Timing.of(latencies, wall)
        return _payment_figures(kind, members, clients, load, in_process, over_http, floor)
    finally:
        if previous_key_file is None:
            os.environ.pop("JAMSOS_KEY_FILE", None)
        else:
            os.environ["JAMSOS_KEY_FILE"] = previous_key_file
        if kind == "postgres":
            _drop_schema(url)
        shutil.rmtree(folder, ignore_errors=True)


def _payment_figures(kind: str, members: int, clients: int, load: str, in_process: Timing, over_http: Timing,
                     floor: Timing) -> dict[str, Any]:
    return {"store": kind, "members_paid_in_process": members, "clients": clients, "load": load,
            "in_process": asdict(in_process) | {"per_s": in_process.per_s},
            "http": asdict(over_http) | {"per_s": over_http.per_s},
            "http_floor_healthz": asdict(floor) | {"per_s": floor.per_s},
            "throughput_ratio": over_http.per_s / in_process.per_s if in_process.per_s else 0.0}


def reads(demo_store: str | None, repeats: int) -> dict[str, Any]:
    """Every report of the demo store, built in process and read over HTTP, ``repeats`` times each."""
    folder = Path(tempfile.mkdtemp(prefix="jamsos-bench-reads-"))
    env = {**os.environ}
    try:
        if demo_store is None:
            demo_store = str(folder / "demo.db")
            subprocess.run([sys.executable, "-m", "cli", "demo", "--store", demo_store, "--json"], cwd=REPO, env=env,
                           check=True, stdout=subprocess.DEVNULL)
        else:  # it adds a principal: never to the store it was given
            demo_store = str(copy_store(Path(demo_store), folder / "copy"))
        ledger = bootstrap(demo_store, create=False)
        name = f"bench-auditor-{uuid.uuid4().hex[:6]}"
        token, digest = new_token(name)
        execute(ledger, AddPrincipal(name=name, roles=[Role.AUDITOR], token_sha256=digest), local_actor())
        now = ledger.clock.now()
        queries = [(r, None) for r in REPORTS] + [("reconciliation", s.code) for s in SCHEMES]
        built: list[float] = []
        for name_, agreement in queries:
            started = time.perf_counter()  # once each: the in-process build is the floor of a first read
            build_report(ledger.store, name_, DEMO_END, None, now, agreement)
            built.append(time.perf_counter() - started)
        ledger.close()
        served: list[float] = []
        first: list[float] = []
        with server(demo_store, env) as base, httpx.Client(base_url=base, timeout=REQUEST_TIMEOUT_S, headers={
                "Authorization": f"Bearer {token}"}) as http:
            for name_, agreement in queries:
                params = {"on": str(DEMO_END), **({"agreement": agreement} if agreement else {})}
                started = time.perf_counter()  # the first read builds it (a report cache miss)
                http.get(f"/api/v1/reports/{name_}", params=params)
                first.append(time.perf_counter() - started)
                for _ in range(repeats):
                    started = time.perf_counter()
                    response = http.get(f"/api/v1/reports/{name_}", params=params)
                    served.append(time.perf_counter() - started)
                    if response.status_code != 200:
                        raise RuntimeError(f"report {name_}: {response.status_code} {response.text[:300]}")
        return {"reports": len(queries), "repeats": repeats,
                "in_process_build": asdict(Timing.of(built, sum(built))),
                "http_first_read": asdict(Timing.of(first, sum(first))),
                "http": asdict(Timing.of(served, sum(served)))}
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--payments", type=int, default=1000, help="payments per side (in process, over HTTP)")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--load", choices=["wrk", "python"], default="wrk" if shutil.which("wrk") else "python",
                        help="the HTTP load generator: wrk (Debian package, default when installed) or Python "
                        "threads with httpx (the client then shares the two cores' CPU with the server)")
    parser.add_argument("--reads", type=int, default=20, help="reads of each report")
    parser.add_argument("--demo-store", default=None, help="reuse this demo store instead of running `jamsos demo`")
    parser.add_argument("--no-reads", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    kinds = ["sqlite", "postgres"] if args.store == "both" else [args.store]
    out: dict[str, Any] = {"machine": machine(),
                           "commit": commit(),
                           "payments": [payments(k, args.payments, args.clients, args.load) for k in kinds]}
    if not args.no_reads:
        out["reads"] = reads(args.demo_store, args.reads)
    if args.json:
        print(json.dumps(out, indent=2))
        return
    print(f"# {out['machine']}, commit {out['commit']}")
    for p in out["payments"]:
        i, h = p["in_process"], p["http"]
        print(f"{p['store']:8} single payments, {p['clients']} clients ({p['load']}): in process {i['per_s']:.0f}/s "
              f"(p99 {i['p99_ms']:.1f} ms); HTTP {h['per_s']:.0f}/s p50 {h['p50_ms']:.1f} p95 {h['p95_ms']:.1f} "
              f"p99 {h['p99_ms']:.1f} ms; ratio {p['throughput_ratio']:.2f} (target >= 0.5, p99 <= 25 ms)")
        f = p["http_floor_healthz"]
        print(f"{'':8} floor, GET /healthz from the same clients: {f['per_s']:.0f}/s p50 {f['p50_ms']:.1f} "
              f"p99 {f['p99_ms']:.1f} ms")
    if "reads" in out:
        r = out["reads"]
        print(f"reports of the demo store ({r['reports']} reports): built in process p50 "
              f"{r['in_process_build']['p50_ms']:.0f} max {r['in_process_build']['max_ms']:.0f} ms; first read over "
              f"HTTP p50 {r['http_first_read']['p50_ms']:.0f} max {r['http_first_read']['max_ms']:.0f} ms; read again "
              f"({r['repeats']} x each, no write between) p50 {r['http']['p50_ms']:.0f} p95 {r['http']['p95_ms']:.0f} "
              f"ms (target p95 <= 200 ms)")


if __name__ == "__main__":
    main()

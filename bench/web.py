"""Dashboard page benchmark (issue 13: "each page renders in ≤ 300 ms, p95, server time, on the demo store").

On a copy of a demo store (``--demo-store``; else ``demo/jamsos.db`` of ``make demo`` when it exists; else a fresh
``jamsos demo`` in a temporary folder, about 70 s):

1. adds three principals with passwords, in process, as the local admin: an auditor (scope all), a finance of
   ``payer:PEMKAB-BKY`` and a budget owner of ``region:61.72``;
2. starts ``jamsos serve`` (one worker, :func:`bench.api.server`) with the clock frozen a few days after the demo's
   last day, and each principal signs in through the form (``GET /login``, its CSRF field and cookie, ``POST``);
3. finds the pages: the menu (``<nav>``) of each principal's overview, then ``/agreements/<code>`` of every demo
   agreement, the coverage page with a region, target and months, the claims page with a filter, the audit page,
   and each page's own GET forms (not the date pickers) submitted with their default values;
4. reads each page once right after a write (the bench adds a principal in process: the log's head moves, so the
   report cache is empty: the **first read**), then ``--reads`` times again with no write between (**again**),
   timed by the server's ``Server-Timing: app;dur=`` (``api.middleware``) and by the client's wall clock;
5. the floor: ``GET /healthz`` and ``GET /login`` in the same run.

Each menu page is read as every principal whose menu has it (a scoped principal reads fewer agreements); the
other pages as the first principal allowed to read them (auditor, finance, budget owner). A page that answers 404
is listed as absent, one that every principal is refused (403) as forbidden. Target: 300 ms p95 server time.

Run on demand (this is not a test)::

    python -m bench.web [--demo-store demo/jamsos.db] [--reads 30] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx

from bench.api import REQUEST_TIMEOUT_S, Timing, server
from bench.common import commit, copy_store, demo_store, machine
from cli.seed_demo import DEMO_END, SCHEMES
from commands.authorise import local_actor, new_token
from commands.handlers import execute
from commands.messages import AddPrincipal, SetPrincipalPassword
from commands.passwords import hash_password
from eventstore.bootstrap import Ledger, bootstrap
from eventstore.clock import WIB, SimulatedClock
from ledger.values import Role

TARGET_MS = 300.0
READS = 30
NOW = datetime(DEMO_END.year, DEMO_END.month, DEMO_END.day, 10, tzinfo=WIB) + timedelta(days=3)
"""The server's frozen clock: 10:00 WIB a few days after the demo's last day."""
EXTRA_PAGES = ([f"/agreements/{s.code}" for s in SCHEMES]
               + ["/coverage?region=61.72&target=40&months=12", "/claims?status=APPROVED",
                  "/claims?agreement=BKY-DESA-2025&status=PAID", "/reconciliation?agreement=BKY-DESA-2025", "/audit",
                  "/audit/trail?agreement=BKY-DESA-2025",
                  f"/audit/compare?on={DEMO_END}&known_1={DEMO_END - timedelta(days=90)}T12:00:00"
                  f"&known_2={DEMO_END}T23:00:00&report=balances"])
"""Pages the menu does not link (an agreement's own page) or links without the query measured here."""
FORMS_OF = ("/audit",)
"""Pages whose GET forms are submitted too (the other pages' forms are filters, measured by the pages above)."""
MARK = {True: "MET", False: "NOT MET"}


@dataclass(frozen=True)
class BenchUser:
    """A principal the bench adds to the copy: its name, role and scope (the password is made per run)."""

    name: str
    role: Role
    scope: str


USERS = (BenchUser("bench.auditor", Role.AUDITOR, "all"),
         BenchUser("bench.finance", Role.FINANCE, "payer:PEMKAB-BKY"),
         BenchUser("bench.budget", Role.BUDGET_OWNER, "region:61.72"))


@dataclass
class PageResult:
    """One page as one principal: the first read after a write, and ``reads`` reads again (milliseconds)."""

    path: str
    user: str
    status: int
    first_server_ms: float | None = None
    first_wall_ms: float | None = None
    again_server: dict[str, float] = field(default_factory=dict)
    again_wall: dict[str, float] = field(default_factory=dict)
    bytes: int = 0

    @property
    def first_met(self) -> bool:
        return self.first_server_ms is not None and self.first_server_ms <= TARGET_MS

    @property
    def again_met(self) -> bool:
        return bool(self.again_server) and self.again_server["p95_ms"] <= TARGET_MS


class PageParser(HTMLParser):
    """The links of a page's ``<nav>``, its hidden fields (the first of each name), and its GET forms other than the
    date pickers (their fields' default values)."""

    def __init__(self) -> None:
        super().__init__()
        self.nav_links: list[str] = []
        self.hidden: dict[str, str] = {}
        self.forms: list[tuple[str, list[tuple[str, str]]]] = []
        self.incomplete_forms: list[str] = []
        """GET forms with a required field and no value in it (submitted as they are, they are refused)."""
        self._incomplete = False
        self._in_nav = 0
        self._form: tuple[str, list[tuple[str, str]]] | None = None
        self._select: str | None = None
        self._select_value: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "input" and a.get("type") == "hidden" and a.get("name"):
            self.hidden.setdefault(a["name"], a.get("value", ""))
        if tag == "nav":
            self._in_nav += 1
        elif tag == "a" and self._in_nav and a.get("href"):
            self.nav_links.append(a["href"])
        elif tag == "form":
            pickers = "pickers" in a.get("class", "").split()
            if a.get("method", "get").lower() == "get" and not pickers:
                self._form, self._incomplete = (a.get("action", ""), []), False
        elif self._form is not None and tag == "input" and a.get("name"):
            kind = a.get("type", "text").lower()
            if kind in ("checkbox", "radio") and "checked" not in a:
                return
            if kind not in ("submit", "button", "reset"):
                self._form[1].append((a["name"], a.get("value", "")))
                self._incomplete |= "required" in a and not a.get("value")
        elif self._form is not None and tag == "select" and a.get("name"):
            self._select, self._select_value = a["name"], None
        elif self._select is not None and tag == "option" and (self._select_value is None or "selected" in a):
            self._select_value = a.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "nav" and self._in_nav:
            self._in_nav -= 1
        elif tag == "select" and self._form is not None and self._select is not None:
            self._form[1].append((self._select, self._select_value or ""))
            self._select = None
        elif tag == "form" and self._form is not None:
            if self._incomplete:
                self.incomplete_forms.append(self._form[0])
            else:
                self.forms.append(self._form)
            self._form = None


def parse(html: str) -> PageParser:
    parser = PageParser()
    parser.feed(html)
    return parser


def server_ms(response: httpx.Response) -> float:
    """The server's own time of ``response`` (``Server-Timing: app;dur=<ms>``)."""
    for part in response.headers.get("server-timing", "").split(","):
        name, _, params = part.strip().partition(";")
        if name == "app" and params.startswith("dur="):
            return float(params.removeprefix("dur="))
    raise RuntimeError(f"{response.request.url}: no Server-Timing app;dur= header")


def timed_get(http: httpx.Client, path: str) -> tuple[httpx.Response, float, float]:
    started = time.perf_counter()
    response = http.get(path)
    wall_ms = (time.perf_counter() - started) * 1000
    return response, server_ms(response), wall_ms


def stats(values_ms: list[float]) -> dict[str, float]:
    t = Timing.of([v / 1000 for v in values_ms], sum(values_ms) / 1000)
    return {"count": t.count, "p50_ms": t.p50_ms, "p95_ms": t.p95_ms, "max_ms": t.max_ms}


class Writer:
    """The bench's own ledger on the copy: adds the principals, and later one principal more before each first
    read (a write moves the log's head, so the server's report cache holds nothing for the new head)."""

    def __init__(self, store: Path) -> None:
        self.ledger: Ledger = bootstrap(str(store), clock=SimulatedClock(NOW), create=False)
        self.bumps = 0

    def add_users(self) -> dict[str, str]:
        passwords = {}
        for user in USERS:
            _, digest = new_token(user.name)
            execute(self.ledger, AddPrincipal(name=user.name, roles=[user.role], scope=user.scope,
                                              description="bench/web.py", token_sha256=digest), local_actor())
            password = passwords[user.name] = secrets.token_urlsafe(18)
            execute(self.ledger, SetPrincipalPassword(name=user.name, password_argon2=hash_password(
                password, user.name)), local_actor())
        return passwords

    def bump(self) -> None:
        self.bumps += 1
        name = f"bench.bump.{self.bumps}"
        _, digest = new_token(name)
        execute(self.ledger, AddPrincipal(name=name, roles=[Role.AUDITOR], token_sha256=digest,
                                          description="bench/web.py: moves the log's head"), local_actor())

    def head(self) -> int:
        return int(self.ledger.store.max_notification_id() or 0)


def sign_in(base: str, name: str, password: str) -> httpx.Client:
    """A client signed in through the form, as a browser does."""
    http = httpx.Client(base_url=base, timeout=REQUEST_TIMEOUT_S, follow_redirects=False)
    form = http.get("/login")
    token = parse(form.text).hidden.get("csrf_token")
    if form.status_code != 200 or token is None:
        raise RuntimeError(f"GET /login: {form.status_code}, csrf_token field {'found' if token else 'missing'}")
    answer = http.post("/login", data={"name": name, "password": password, "csrf_token": token, "next": "/"})
    if answer.status_code != 303 or "jamsos_session" not in http.cookies:
        raise RuntimeError(f"sign-in of {name}: {answer.status_code} {answer.text[:300]}")
    return http


def measure(http: httpx.Client, writer: Writer, path: str, user: str, reads: int) -> tuple[PageResult, str]:
    """The first read after a write, then ``reads`` reads again; the result and the first read's HTML."""
    writer.bump()
    response, first_server, first_wall = timed_get(http, path)
    result = PageResult(path, user, response.status_code)
    if response.status_code != 200:
        return result, ""
    result.first_server_ms, result.first_wall_ms, result.bytes = first_server, first_wall, len(response.content)
    servers, walls = [], []
    for _ in range(reads):
        again, s_ms, w_ms = timed_get(http, path)
        if again.status_code != 200:
            raise RuntimeError(f"{path} as {user}: {again.status_code} on a read again")
        servers.append(s_ms)
        walls.append(w_ms)
    result.again_server, result.again_wall = stats(servers), stats(walls)
    return result, response.text


def floor(base: str, reads: int) -> dict[str, dict[str, dict[str, float]]]:
    """``GET /healthz`` and ``GET /login``: the HTTP stack, and a page with no report, on this machine."""
    out = {}
    with httpx.Client(base_url=base, timeout=REQUEST_TIMEOUT_S) as http:
        for path in ("/healthz", "/login"):
            servers, walls = [], []
            for _ in range(reads):
                response, s_ms, w_ms = timed_get(http, path)
                if response.status_code != 200:
                    raise RuntimeError(f"{path}: {response.status_code}")
                servers.append(s_ms)
                walls.append(w_ms)
            out[path] = {"server": stats(servers), "wall": stats(walls)}
    return out


def form_targets(page: str, html: str) -> tuple[list[str], list[str]]:
    """A page's GET forms (not the pickers) as the URLs their default values submit; apart, the actions of those
    with a required field left empty (not submitted: they need input the bench does not invent)."""
    parsed, here = parse(html), urlsplit(page).path
    out = []
    for action, fields in parsed.forms:
        target = urlsplit(action).path or here
        out.append(f"{target}?{urlencode(fields)}" if fields else target)
    return out, [urlsplit(a).path or here for a in parsed.incomplete_forms]


def run(store: Path, reads: int) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="jamsos-bench-web-"))
    load_before = os.getloadavg()[0]
    try:
        copy = copy_store(store, folder)
        writer = Writer(copy)
        passwords = writer.add_users()
        env = {**os.environ, "JAMSOS_CLOCK": NOW.isoformat(), "JAMSOS_KEY_FILE": str(copy.with_suffix(".key")),
               "JAMSOS_WEB_SESSIONS": f"sqlite:///{folder / 'sessions.db'}", "JAMSOS_HTTP_WORKERS": "1"}
        results: list[PageResult] = []
        with server(str(copy), env) as base:
            clients = {u.name: sign_in(base, u.name, passwords[u.name]) for u in USERS}
            try:
                menus = {}
                for name, http in clients.items():
                    overview = http.get("/overview")
                    menus[name] = [urlsplit(h).path for h in parse(overview.text).nav_links] \
                        if overview.status_code == 200 else []
                menu = list(dict.fromkeys(p for links in menus.values() for p in links))
                seen: set[tuple[str, str]] = set()
                skipped: set[str] = set()
                queue: list[tuple[str, list[str]]] = [(p, [n for n in clients if p in menus[n]]) for p in menu]
                queue += [(p, list(clients)) for p in EXTRA_PAGES if p not in menu]
                while queue:
                    path, users = queue.pop(0)
                    every = path in menu
                    for name in users:
                        if (path, name) in seen:
                            continue
                        seen.add((path, name))
                        result, html = measure(clients[name], writer, path, name, reads)
                        results.append(result)
                        if result.status == 200 and urlsplit(path).path in FORMS_OF:
                            targets, incomplete = form_targets(path, html)
                            queue += [(t, [name]) for t in targets]
                            skipped.update(incomplete)
                        if result.status == 404 or (result.status == 200 and not every):
                            break  # absent for everyone; or measured once (as the first principal allowed)
                measured_floor = floor(base, reads)
            finally:
                for http in clients.values():
                    http.close()
        head = writer.head()
        writer.ledger.close()
        load = (load_before, os.getloadavg()[0])
        return summarise(store, reads, results, measured_floor, menus, head, skipped) | {"load_1min": load}
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def summarise(store: Path, reads: int, results: list[PageResult], measured_floor: dict[str, Any],
              menus: dict[str, list[str]], head: int, skipped: set[str]) -> dict[str, Any]:
    measured = [r for r in results if r.status == 200]
    ok_paths = {r.path for r in measured}
    absent = sorted({r.path for r in results if r.status == 404})
    forbidden = sorted({r.path for r in results if r.status == 403} - ok_paths)
    errors = [{"path": r.path, "user": r.user, "status": r.status} for r in results
              if r.status not in (200, 403, 404)]
    pages = [asdict(r) | {"first_met": r.first_met, "again_met": r.again_met} for r in measured]
    return {"machine": machine(), "commit": commit(), "store": str(store), "log_head": head, "clock": NOW.isoformat(),
            "reads": reads, "target_ms": TARGET_MS, "menus": menus, "pages": pages, "absent": absent,
            "forbidden": forbidden, "errors": errors,
            "forms_needing_input": sorted(skipped), "floor": measured_floor,
            "all_first_met": all(r.first_met for r in measured), "all_again_met": all(r.again_met for r in measured)}


def print_table(out: dict[str, Any]) -> None:
    print(f"# {out['machine']}, commit {out['commit']}; load average (1 min) {out['load_1min'][0]:.1f} at the start, "
          f"{out['load_1min'][1]:.1f} at the end")
    print(f"# store {out['store']} (log head {out['log_head']:,}), clock {out['clock']}, {out['reads']} reads again "
          f"per page; server time (Server-Timing app;dur), target p95 <= {out['target_ms']:.0f} ms")
    head = (f"{'page':56} {'as':8} {'first':>7} {'p50':>7} {'p95':>7} {'max':>7} {'wall p95':>8}  "
            f"{'first read':10} {'again (p95)':11}")
    print(head)
    print("-" * len(head))
    for p in out["pages"]:
        a = p["again_server"]
        path = p["path"] if len(p["path"]) <= 56 else p["path"][:55] + "…"
        print(f"{path:56} {p['user'].removeprefix('bench.'):8} {p['first_server_ms']:7.1f} "
              f"{a['p50_ms']:7.1f} {a['p95_ms']:7.1f} {a['max_ms']:7.1f} {p['again_wall']['p95_ms']:8.1f}  "
              f"{MARK[p['first_met']]:10} {MARK[p['again_met']]:11}")
    for path, f in out["floor"].items():
        s = f["server"]
        print(f"{'floor ' + path:56} {'-':8} {'':7} {s['p50_ms']:7.1f} {s['p95_ms']:7.1f} {s['max_ms']:7.1f} "
              f"{f['wall']['p95_ms']:8.1f}")
    if out["absent"]:
        print(f"absent (404): {', '.join(out['absent'])}")
    if out["forbidden"]:
        print(f"forbidden (403) to every bench principal: {', '.join(out['forbidden'])}")
    if out["forms_needing_input"]:
        print(f"GET forms with a required field empty, not submitted: {', '.join(out['forms_needing_input'])}")
    for e in out["errors"]:
        print(f"error: {e['path']} as {e['user']}: HTTP {e['status']}")
    n = len(out["pages"])
    first_met = sum(p["first_met"] for p in out["pages"])
    again_met = sum(p["again_met"] for p in out["pages"])
    print(f"first read <= {out['target_ms']:.0f} ms: {first_met} of {n} pages; read again p95 <= "
          f"{out['target_ms']:.0f} ms: {again_met} of {n} pages")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--demo-store", default=None, help="a demo store to copy (default: demo/jamsos.db when it "
                        "exists, else a fresh `jamsos demo`)")
    parser.add_argument("--reads", type=int, default=READS, help="reads again of each page after its first read")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    with demo_store(args.demo_store) as store:
        out = run(store, max(1, args.reads))
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print_table(out)


if __name__ == "__main__":
    main()

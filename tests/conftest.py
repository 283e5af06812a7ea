"""Fixtures: one behavioural suite over every store (memory, SQLite file, real PostgreSQL).

PostgreSQL runs for real: ``JAMSOS_TEST_POSTGRES_URL`` (default ``postgresql://postgres@127.0.0.1:5432/test``).
Each test gets its own schema, dropped afterwards. If the server cannot be reached the PostgreSQL tests
**fail** under CI (``CI`` set) or when ``JAMSOS_REQUIRE_SERVICES=1``; elsewhere they are skipped with the reason.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from commands import handlers
from commands.authorise import Actor, local_actor, new_token, role_for
from commands.messages import AddPrincipal, Command
from eventstore.bootstrap import Ledger, bootstrap
from eventstore.clock import WIB, SimulatedClock
from ledger.principal import Scope
from ledger.values import Role
from projections import ledger_views

pytest_plugins = ["tests.web_support", "tests.browser_support"]
"""The dashboard's fixtures (a demo store per test session, a served site, one chromium), shared by every module:
imported into each module instead, a session fixture would be built once per module."""

TEST_AT = os.environ.get("JAMSOS_TEST_AT")
"""``JAMSOS_TEST_AT=16:59`` runs the suite with the ledger's clock frozen at that UTC time of today (every
``bootstrap`` without an explicit clock, and every CLI the tests start): ``make test-at-hours`` runs the command
and report suites at the hours where UTC, WIB, WITA and WIT disagree on the date."""
if TEST_AT:
    os.environ["JAMSOS_CLOCK"] = datetime.combine(datetime.now(UTC).date(), time.fromisoformat(TEST_AT),
                                                  UTC).isoformat()

PG_URL = os.environ.get("JAMSOS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
SERVICES_REQUIRED = bool(os.environ.get("CI")) or os.environ.get("JAMSOS_REQUIRE_SERVICES") == "1"


def postgres_available() -> str | None:
    try:
        with psycopg.connect(PG_URL, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
        return None
    except Exception as exc:
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def require_postgres() -> None:
    problem = postgres_available()
    if problem is None:
        return
    message = f"PostgreSQL not reachable at {PG_URL}: {problem}"
    if SERVICES_REQUIRED:
        pytest.fail(message + " (services are required here: CI or JAMSOS_REQUIRE_SERVICES=1)")
    pytest.skip(message)


@pytest.fixture
def pg_schema_url() -> Iterator[str]:
    """A PostgreSQL store URL with a fresh schema of its own."""
    require_postgres()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    sep = "&" if "?" in PG_URL else "?"
    yield f"{PG_URL}{sep}schema={schema}"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@contextlib.contextmanager
def example_ledger(kind: str, folder: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Ledger, SimulatedClock]]:
    """A fresh ``kind`` ledger (``sqlite`` in ``folder``, or ``postgres`` in a schema of its own, dropped after)
    with a simulated clock, for one hypothesis example (function-scoped fixtures are not made per example)."""
    monkeypatch.setenv("JAMSOS_KEY_FILE", str(folder / "k.key"))
    schema = f"h_{uuid.uuid4().hex[:10]}"
    if kind == "postgres":
        require_postgres()
        url = f"{PG_URL}{'&' if '?' in PG_URL else '?'}schema={schema}"
    else:
        url = f"sqlite:///{folder / 'ledger.db'}"
    clock = SimulatedClock(datetime(2025, 1, 2, 8, tzinfo=WIB))
    ledger = bootstrap(url, clock=clock)
    try:
        yield ledger, clock
    finally:
        ledger.close()
        if kind == "postgres":
            with psycopg.connect(PG_URL, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("JAMSOS_KEY_FILE", str(tmp_path / "test.key"))
    if request.param == "memory":
        return "memory://"
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}"
    return str(request.getfixturevalue("pg_schema_url"))


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock(datetime(2025, 1, 2, 8, tzinfo=WIB))


@pytest.fixture
def memory_ledger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clock: SimulatedClock) -> Iterator[Ledger]:
    """One in-memory ledger (for tests of rules that do not depend on the store), its clock at the fixture's."""
    monkeypatch.setenv("JAMSOS_KEY_FILE", str(tmp_path / "k.key"))
    ledger = bootstrap("memory://", clock=clock)
    yield ledger
    ledger.close()


@pytest.fixture
def ledger(store_url: str, clock: SimulatedClock) -> Iterator[Ledger]:
    ledger = bootstrap(store_url, clock=clock)
    yield ledger
    ledger.close()


def at(clock: SimulatedClock, day: date) -> None:
    clock.set_day(day)


def acting(command: Command) -> Actor:
    """The test principal of the role the command needs (``test-operator`` submits a claim, ``test-claims-officer``
    approves it: the four-eyes rule holds as it does for people)."""
    role = role_for(command.kind)  # type: ignore[attr-defined]
    return Actor(f"test-{role.value}", frozenset({role}), Scope("all"))


def run(ledger: Ledger, command: Command, actor: Actor | None = None) -> dict[str, Any]:
    """``commands.handlers.execute`` as the principal of the role the command needs, on the real clock."""
    return handlers.execute(ledger, command, actor or acting(command))


def execute(ledger: Ledger, command: Command, actor: Actor | None = None) -> dict[str, Any]:
    """``commands.handlers.execute`` as a live operator runs it: a command dated ``effective_on`` is given on
    that business day, so a simulated clock is first moved to it (a clock never goes back; a command dated
    before the clock's day is a back-dated entry and runs as it is). A future date is refused by the ledger:
    tests of that refusal use :func:`run`. ``actor`` defaults to the test principal of the role it needs."""
    if isinstance(ledger.clock, SimulatedClock) and command.effective_on is not None:
        ledger.clock.set_day(command.effective_on)
    return run(ledger, command, actor)


def grant(ledger: Ledger, name: str, *roles: Role, scope: str = "all") -> str:
    """Add principal ``name`` (as the local admin) and return its token, as `jamsos principal add` prints it."""
    token, digest = new_token(name)
    run(ledger, AddPrincipal(name=name, roles=list(roles), scope=scope, token_sha256=digest), local_actor())
    return token


def events_count(ledger: Ledger) -> int:
    return ledger.store.max_notification_id()


def nik(i: int, region: str = "6172") -> str:
    from cli.seed_demo import synthetic_nik

    return synthetic_nik(region, i)


def kwargs(**values: Any) -> dict[str, Any]:
    return values


def _reach(ledger: Ledger, day: date | None) -> None:
    if isinstance(ledger.clock, SimulatedClock) and day is not None:
        ledger.clock.set_day(day)


def agreement_view(ledger: Ledger, code: str, on: date | None, as_of: datetime | None, **kw: Any) -> dict[str, Any]:
    """``projections.ledger_views.agreement_view`` asked once the day ``on`` has begun (the clock moved to it)."""
    _reach(ledger, on)
    return ledger_views.agreement_view(ledger, code, on, as_of, **kw)


def member_view(ledger: Ledger, nik: str, on: date | None, as_of: datetime | None, reveal: bool = False
                ) -> dict[str, Any]:
    """``projections.ledger_views.member_view`` asked once the day ``on`` has begun (the clock moved to it)."""
    _reach(ledger, on)
    return ledger_views.member_view(ledger, nik, on, as_of, reveal)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The browser tests in one xdist group per store kind (``make test`` runs ``--dist loadgroup``): one worker
    serves the SQLite sites and the other the PostgreSQL ones, each with its own chromium, instead of every worker
    building every kind of demo site (or one worker running all of them: the suite's longest path)."""
    for item in items:
        if item.get_closest_marker("browser") is not None:
            params = getattr(getattr(item, "callspec", None), "params", {})
            kind = params.get("site") or params.get("fresh_site") or "any"
            item.add_marker(pytest.mark.xdist_group(f"browser-{kind}"))

"""The stable SQL views (projections/sql_views.py) and docs/sql.md: declarations, generated reference, types and
comments on PostgreSQL, the switch with a rebuilt generation (atomic, never a missing view), and the three
worked queries of docs/sql.md giving the CLI reports' figures on the demo, before and after a rebuild."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import create_engine, select, update
from sqlalchemy.engine import Engine

from cli.seed_demo import run_demo
from commands.messages import ChangePayer, Sweep
from eventstore.bootstrap import Ledger, bootstrap
from eventstore.clock import WIB, SimulatedClock
from ledger.claim import claim_id_for
from ledger.values import FundSource, PayerType, Period
from projections.audit import trail_rows
from projections.registry import PROJECTIONS
from projections.reports import build_report
from projections.runner import ProjectionGroup, ProjectionRunner, positions, views_engine
from projections.sql_refresh import catalogue
from projections.sql_views import (
    DOCS,
    PG_TYPES,
    POSTGRESQL,
    SQLITE,
    VIEWS,
    VIEWS_BY_NAME,
    markdown_reference,
    month_end,
    month_start,
    period_start,
)
from tests.conftest import PG_URL, execute, nik, require_postgres
from tests.test_behaviour import AGREEMENT, enrol, pay, sign

NOW = datetime(2026, 11, 21, 12, tzinfo=WIB)
REPO = Path(__file__).resolve().parents[1]
DOC_MEMBER_ID = "0d4f6c1e-8a53-5b7e-9c2a-6e1f3b8d9a70"
"""The example member id of docs/sql.md's third query (replaced by a real one here)."""
PG_TYPE_NAMES = {"text": "text", "integer": "integer", "bigint": "bigint", "date": "date",
                 "timestamptz": "timestamp with time zone", "boolean": "boolean"}


def doc_queries() -> dict[str, str]:
    """The SQL blocks of docs/sql.md, by the name in the ``<!-- query: NAME -->`` line above each."""
    found = dict(re.findall(r"<!-- query: (\w+) -->\n```sql\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.S))
    assert set(found) == {"active_per_agreement", "paid_per_agreement_and_month", "events_of_one_member"}
    return found


def run_sql(engine: Engine, sql: str) -> list[tuple[Any, ...]]:
    """Run SQL as an auditor's client would (the driver's cursor, no parameter parsing); plain values."""
    with engine.connect() as conn:
        cursor = conn.connection.cursor()
        cursor.execute(sql)
        rows = cursor.fetchall()
        cursor.close()
    return [tuple(int(v) if isinstance(v, Decimal | bool) else v.isoformat() if isinstance(v, date) else v
                  for v in row) for row in rows]


# --- declarations and docs (no database) ----------------------------------------------------------------


def test_every_view_is_declared_over_real_tables_with_known_types() -> None:
    assert len(VIEWS_BY_NAME) == len(VIEWS)
    for view in VIEWS:
        names = [c.name for c in view.columns]
        assert len(set(names)) == len(names), view.name
        assert view.comment and all(c.comment for c in view.columns), view.name
        assert {c.type for c in view.columns} <= set(PG_TYPES), view.name
        for projection, table in view.tables:
            assert projection in PROJECTIONS, f"{view.name}: unknown projection {projection}"
            PROJECTIONS[projection](1).table(table)  # KeyError when the projection has no such table
    assert {"members", "membership_spells", "membership_payers", "agreements", "paid_periods", "claims", "journal",
            "invoices", "statement_lines", "reconciliation_exceptions", "refunds", "audit_trail",
            "workforce"} <= set(VIEWS_BY_NAME)


def test_docs_sql_md_documents_every_view_and_column_and_is_fresh() -> None:
    """Regenerate with `make sqldocs` when this fails."""
    text = DOCS.read_text(encoding="utf-8")
    assert markdown_reference() in text, "docs/sql.md is stale: run `make sqldocs`"
    for view in VIEWS:
        section = text.split(f"### `{view.name}`\n", 1)[1].split("\n### ", 1)[0]
        documented = re.findall(r"^\| `(\w+)` \| (\w+) \|", section, re.M)
        assert documented == [(c.name, c.type) for c in view.columns], view.name


@pytest.mark.parametrize("dialect", [SQLITE, pytest.param(POSTGRESQL, marks=pytest.mark.postgres)])
def test_period_dates_follow_the_ledgers_rule(dialect: str) -> None:
    """``period_start`` is ``Period.start`` (anchor day clamped to the month's end), on both stores."""
    if dialect == POSTGRESQL:
        require_postgres()
        engine = create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://", 1))
    else:
        engine = create_engine("sqlite://")
    cases = [(f"{y}-{m:02d}", a) for y in (2024, 2025) for m in (1, 2, 3, 4, 12) for a in (1, 15, 28, 29, 30, 31)]
    exprs = [f"({period_start(repr(p), str(a))[dialect]}), ({month_start(repr(p))[dialect]}), "
             f"({month_end(repr(p))[dialect]})" for p, a in cases]
    got = run_sql(engine, "SELECT " + ", ".join(exprs))[0]
    want = []
    for p, a in cases:
        period = Period.parse(p)
        want += [period.start(a).isoformat(), period.start().isoformat(), period.end().isoformat()]
    assert [str(v) for v in got] == want
    engine.dispose()


# --- a small ledger: payer changes, anchor days, the switch ---------------------------------------------


def test_active_query_follows_payer_changes_anchor_days_and_early_enrolment(ledger: Ledger,
                                                                            clock: SimulatedClock) -> None:
    sign(ledger, last="2025-12")
    sign(ledger, code="BAZNAS-TEST", payer_id="BAZNAS-X", payer_type=PayerType.BAZNAS, fund_source=FundSource.ZIS,
         first="2025-02", last="2025-12")
    enrol(ledger, 1)  # under AGREEMENT, then BAZNAS-TEST from 2025-03
    pay(ledger, 1, ["2025-01", "2025-02"], 33_600, "R1")
    execute(ledger, ChangePayer(nik=nik(1), agreement_id="BAZNAS-TEST", from_period="2025-03",
                                effective_on=date(2025, 2, 20)))
    enrol(ledger, 2, code="BAZNAS-TEST")  # enrolled 2025-01-06, before the window: first period 2025-02
    clock.set_day(date(2025, 1, 31))
    enrol(ledger, 3, code=None, on=date(2025, 1, 31), declared_income_rp=2_000_000)  # self-payer, anchor day 31
    execute(ledger, ChangePayer(nik=nik(3), agreement_id=AGREEMENT, from_period="2025-04",
                                effective_on=date(2025, 2, 1)))  # 2025-04 starts on 30 April for this chain
    clock.set_day(date(2025, 7, 1))
    execute(ledger, Sweep(effective_on=date(2025, 7, 1)))
    engine = views_engine(ledger.store)
    query = doc_queries()["active_per_agreement"]
    days = ["2025-01-05", "2025-01-20", "2025-01-31", "2025-02-28", "2025-03-01", "2025-03-30", "2025-04-29",
            "2025-04-30", "2025-05-01", "2025-06-30", "2025-07-01"]
    seen = set()
    for day in days:
        report = build_report(ledger.store, "members", date.fromisoformat(day), None, NOW)
        want = {r[0]: r[3] for r in report["sections"]["by_agreement"]["rows"] if r[3]}
        assert dict(run_sql(engine, query.replace("2026-01-31", day))) == want, day
        seen.add(tuple(sorted(want.items())))
    assert len(seen) >= 5  # the days do tell the payers apart


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_a_failed_switch_leaves_the_views_on_the_old_generation(kind: str, request: pytest.FixtureRequest,
                                                                tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                clock: SimulatedClock) -> None:
    """The views are replaced inside the switch's transaction: when it fails after replacing them, they
    still read the serving generation (SQLite's DDL joins the transaction; it must not commit on its own)."""
    import projections.runner as runner_module

    monkeypatch.setenv("JAMSOS_KEY_FILE", str(tmp_path / "k.key"))
    url = request.getfixturevalue("pg_schema_url") if kind == "postgres" else f"sqlite:///{tmp_path / 'l.db'}"
    ledger = bootstrap(url, clock=clock)
    try:
        sign(ledger)
        enrol(ledger, 1)
        engine = views_engine(ledger.store)
        runners = [ProjectionRunner(ledger.store, engine, f) for f in PROJECTIONS.values()]
        ProjectionGroup(runners).catch_up()
        before = _definitions(engine)
        assert set(before) == set(VIEWS_BY_NAME) and all("_g1 " in d for d in before.values())
        original = runner_module.refresh_sql_views

        def then_fail(conn: Any, names: Any) -> None:
            original(conn, names)
            assert set(_definitions(engine, conn)) == set(VIEWS_BY_NAME)  # replaced, inside the transaction
            raise RuntimeError("crash after the views were replaced")

        monkeypatch.setattr(runner_module, "refresh_sql_views", then_fail)
        with pytest.raises(RuntimeError, match="crash after"):
            ProjectionGroup(runners).rebuild()
        assert _definitions(engine) == before
        assert set(_generations(engine).values()) == {1}  # and they switch together with the generation
        assert run_sql(engine, "SELECT member_id FROM members") and run_sql(engine, "SELECT * FROM claims") == []
        monkeypatch.setattr(runner_module, "refresh_sql_views", original)
        ProjectionGroup([ProjectionRunner(ledger.store, engine, f) for f in PROJECTIONS.values()]).rebuild()
        after = _definitions(engine)
        assert set(after) == set(VIEWS_BY_NAME) and all("_g1 " not in d for d in after.values())
    finally:
        ledger.close()


def _definitions(engine: Engine, conn: Any = None) -> dict[str, str]:
    """Each view's definition as the database holds it."""
    sql = ("SELECT viewname, definition FROM pg_views WHERE schemaname = current_schema()"
           if engine.dialect.name == "postgresql" else "SELECT name, sql FROM sqlite_master WHERE type = 'view'")
    if conn is not None:
        return {r[0]: r[1].replace("\n", " ") + " " for r in conn.exec_driver_sql(sql)}
    with engine.connect() as c:
        return _definitions(engine, c)


def test_views_come_back_when_missing_and_leave_when_a_projection_they_read_is_stale(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from projections.journal import Journal
    from projections.registers import Registers

    monkeypatch.setenv("JAMSOS_KEY_FILE", str(tmp_path / "k.key"))
    ledger = bootstrap(f"sqlite:///{tmp_path / 'l.db'}")
    try:
        sign(ledger)
        engine = views_engine(ledger.store)
        ProjectionRunner(ledger.store, engine, Registers)
        assert "claims" not in _definitions(engine)  # it reads the journal too, which has never run
        assert "members" in _definitions(engine)
        ProjectionRunner(ledger.store, engine, Journal)
        assert {"claims", "journal"} <= set(_definitions(engine))
        with engine.begin() as conn:  # a store from before the views, or a view dropped by hand
            conn.exec_driver_sql("DROP VIEW members")
        ProjectionRunner(ledger.store, engine, Registers)
        assert "members" in _definitions(engine)
        with engine.begin() as conn:  # the journal's tables are of an older schema than this code
            conn.execute(update(positions).where(positions.c.name == "journal").values(schema_version=0))
        ProjectionRunner(ledger.store, engine, Registers)
        assert "claims" not in _definitions(engine) and "members" in _definitions(engine)
        with engine.connect() as conn:
            assert "claims" not in set(conn.execute(select(catalogue.c.name)).scalars())
        ProjectionRunner(ledger.store, engine, Journal)  # rebuilds the journal, then the views come back
        assert {"claims", "journal"} <= set(_definitions(engine))
    finally:
        ledger.close()


# --- the demo, on both stores -----------------------------------------------------------------------------


@dataclass
class Demo:
    kind: str
    url: str
    ledger: Ledger
    summary: dict[str, Any]
    schema: str | None

    @property
    def engine(self) -> Engine:
        return views_engine(self.ledger.store)


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def demo(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """The demo at 1 % scale, its projections run; shared by the tests below (each leaves it as it found it)."""
    tmp = tmp_path_factory.mktemp("sqlviews")
    schema = None
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("JAMSOS_KEY_FILE", str(tmp / "k.key"))
        if request.param == "postgres":
            require_postgres()
            schema = f"v_{uuid.uuid4().hex[:12]}"
            url = f"{PG_URL}{'&' if '?' in PG_URL else '?'}schema={schema}"
        else:
            url = f"sqlite:///{tmp / 'jamsos.db'}"
        summary = run_demo(url, scale=0.01, quiet=True)
        ledger = bootstrap(url, create=False)
        try:
            _cli("project", "run", "--store", url)
            yield Demo(request.param, url, ledger, summary, schema)
        finally:
            ledger.close()
            if schema is not None:
                with psycopg.connect(PG_URL, autocommit=True) as conn:
                    conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _cli(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "cli", *args], check=True, capture_output=True, cwd=REPO,
                   timeout=300)


def _answers(demo: Demo) -> dict[str, list[tuple[Any, ...]]]:
    queries = doc_queries()
    member_id = demo.summary["bengkayang_heir"]["member_id"]
    return {"active": run_sql(demo.engine, queries["active_per_agreement"]),
            "paid": run_sql(demo.engine, queries["paid_per_agreement_and_month"]),
            "events": run_sql(demo.engine, queries["events_of_one_member"].replace(DOC_MEMBER_ID, member_id))}


@pytest.mark.slow
def test_doc_queries_give_the_cli_reports_figures(demo: Demo) -> None:
    queries, store = doc_queries(), demo.ledger.store
    for day in ("2025-01-05", "2025-12-15", "2026-01-31", "2026-05-01"):
        report = build_report(store, "members", date.fromisoformat(day), None, NOW)
        want = [(r[0], r[3]) for r in report["sections"]["by_agreement"]["rows"] if r[3]]
        assert run_sql(demo.engine, queries["active_per_agreement"].replace("2026-01-31", day)) == want, day
    active = dict(_answers(demo)["active"])  # the demo's own figures for 2026-01-31 (cli/seed_demo.py)
    assert active["SKW-RENTAN-2025"] + active["SKW-SAWIT-2025"] == demo.summary["singkawang_active_2026_01_31"]
    assert active["SKW-RENTAN-2025"] == demo.summary["agreements"]["SKW-RENTAN-2025"]["members_enrolled"]
    for day in ("2025-06-30", "2026-11-20"):
        report = build_report(store, "balances", date.fromisoformat(day), None, NOW)
        want = [(r[0], r[1], r[4], r[5], r[7]) for r in report["sections"]["by_agreement_period"]["rows"] if r[4]]
        assert run_sql(demo.engine, queries["paid_per_agreement_and_month"].replace("2026-11-20", day)) == want, day
    paid = _answers(demo)["paid"]
    assert sum(r[3] for r in paid if r[0].startswith("SKW-")) == demo.summary["singkawang_contributions_rp"]
    heir = demo.summary["bengkayang_heir"]
    streams = [heir["member_id"], *(str(claim_id_for(c["claim_id"])) for c in heir["claims"])]
    trail = trail_rows(store, demo.engine, aggregate_ids=streams)
    events = _answers(demo)["events"]
    assert [(e[0], e[3], e[5]) for e in events] == [(t["position"], t["event_type"], t["summary"]) for t in trail]
    assert {"MemberEnrolled", "ClaimFiled", "ClaimSubmitted", "ClaimPaid"} <= {e[3] for e in events}


@pytest.mark.slow
def test_doc_queries_still_work_after_jamsos_project_rebuild(demo: Demo) -> None:
    before = _answers(demo)
    generations = _generations(demo.engine)
    _cli("project", "rebuild", "--store", demo.url)
    assert _generations(demo.engine) == {name: g + 1 for name, g in generations.items()}
    assert _answers(demo) == before
    assert set(_definitions(demo.engine)) == set(VIEWS_BY_NAME)


def _generations(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {r.name: r.generation for r in conn.execute(select(positions.c.name, positions.c.generation))}


@pytest.mark.slow
def test_views_have_the_same_columns_on_both_stores_and_types_and_comments_on_postgres(demo: Demo) -> None:
    for view in VIEWS:
        if demo.kind == "sqlite":
            columns = [r[1] for r in run_sql(demo.engine, f"PRAGMA table_info({view.name})")]
            assert columns == [c.name for c in view.columns], view.name
            continue
        rows = run_sql(demo.engine, f"""
            SELECT a.attname, format_type(a.atttypid, a.atttypmod), col_description(a.attrelid, a.attnum),
                   obj_description(a.attrelid, 'pg_class')
            FROM pg_attribute a WHERE a.attrelid = '{view.name}'::regclass AND a.attnum > 0 ORDER BY a.attnum""")
        assert [r[:3] for r in rows] == [(c.name, PG_TYPE_NAMES[c.type], c.comment) for c in view.columns]
        assert rows[0][3] == view.comment


@pytest.mark.slow
def test_a_reader_never_misses_a_view_while_a_rebuild_switches(demo: Demo) -> None:
    """Another connection counts rows in a loop while the journal alone is rebuilt (the views reading it,
    ``claims`` included, which also reads the registers, are replaced in place), then every projection with
    the views dropped and created (as when their columns change)."""
    before = _answers(demo)
    sql = "SELECT (SELECT COUNT(*) FROM members), (SELECT COUNT(*) FROM claims), (SELECT COUNT(*) FROM journal)"
    expected = run_sql(demo.engine, sql)[0]
    stop = threading.Event()
    seen: list[Any] = []
    errors: list[BaseException] = []

    def read() -> None:
        if demo.kind == "postgres":
            conn: Any = psycopg.connect(PG_URL, autocommit=True, options=f"-csearch_path={demo.schema}")
        else:
            import sqlite3

            conn = sqlite3.connect(demo.url.removeprefix("sqlite:///").replace(".db", ".views.db"), timeout=30)
        try:
            while not stop.is_set():
                seen.append(tuple(conn.execute(sql).fetchone()))
        except BaseException as exc:
            errors.append(exc)
        finally:
            conn.close()

    reader = threading.Thread(target=read)
    reader.start()
    try:
        store, engine = demo.ledger.store, demo.engine
        ProjectionRunner(store, engine, PROJECTIONS["journal"]).rebuild()
        with engine.begin() as conn:  # recorded columns differ: the next switch drops and creates every view
            conn.execute(update(catalogue).values(signature="changed"))
        ProjectionGroup([ProjectionRunner(store, engine, f) for f in PROJECTIONS.values()]).rebuild()
    finally:
        stop.set()
        reader.join(timeout=60)
    assert not errors, errors
    assert len(seen) > 10 and set(seen) == {expected}
    assert _answers(demo) == before

"""A PostgreSQL rebuild analyzes the tables it loads (``projections.runner.analyze``), as they grow and once loaded:
this machine's server runs with autovacuum off, and the province's rebuild, planned without statistics, ran at
~930 events/s until its tables were analyzed by hand (~18,000 after).

``last_analyze`` is set by an explicit ``ANALYZE`` only (autovacuum sets ``last_autoanalyze``), so the test sees the
runner's own passes whatever the server's autovacuum does.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import text

from eventstore.bootstrap import bootstrap
from eventstore.clock import SimulatedClock
from projections import runner as runner_module
from projections.registers import Registers
from projections.runner import ProjectionRunner, views_engine
from tests.test_behaviour import enrol, sign

pytestmark = pytest.mark.postgres


def test_a_postgres_rebuild_leaves_every_table_it_loaded_analyzed(
        pg_schema_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clock: SimulatedClock) -> None:
    monkeypatch.setenv("JAMSOS_KEY_FILE", str(tmp_path / "k.key"))
    ledger = bootstrap(pg_schema_url, clock=clock)
    try:
        sign(ledger)
        for k in range(5):
            enrol(ledger, k, on=date(2025, 1, 6))
        passes: list[int] = []
        real = runner_module.analyze
        monkeypatch.setattr(runner_module, "analyze", lambda engine, projections: (passes.append(1),
                                                                                   real(engine, projections)))
        engine = views_engine(ledger.store)
        runner = ProjectionRunner(ledger.store, engine, Registers)
        runner.rebuild(batch_size=2)  # six batches of two events: analyzed after batches 1, 2 and 4, then once loaded
        assert len(passes) == 4, passes
        names = [t.name for t in runner.active.metadata.sorted_tables]
        with engine.connect() as conn:
            analyzed = dict(conn.execute(text(
                "SELECT relname, last_analyze IS NOT NULL FROM pg_stat_user_tables "
                "WHERE schemaname = current_schema() AND relname = ANY(:names)"), {"names": names}).all())
        assert set(analyzed) == set(names) and all(analyzed.values()), analyzed
    finally:
        ledger.close()

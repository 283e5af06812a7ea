"""The plain chains' counts (``projections.chain_counts``) are what a count from scratch over the registers gives,
after every batch: on random logs (back-dated entries, payer changes, re-enrolments, lapses, deaths), applied
in batches of every size, rebuilt, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from projections.chain_counts import KEY
from projections.registers import Registers
from projections.runner import ProjectionRunner, views_engine
from tests.test_on_property import EXAMPLES, operations, play, random_log_ledger


def from_scratch(conn: Any, registers: Registers) -> tuple[Counter[tuple[str, ...]], set[str]]:
    """The counts and the entangled members, counted member by member in Python from every register row."""
    rows = {n: [r._asdict() for r in conn.execute(select(registers.table(n)))]
            for n in ("spells", "members", "segments")}
    segments: dict[str, list[dict[str, Any]]] = {}
    for s in rows["segments"]:
        segments.setdefault(s["member_id"], []).append(s)
    died = {m["member_id"]: m["died_on"] for m in rows["members"]}
    counts: Counter[tuple[str, ...]] = Counter()
    entangled = set()
    for spell in rows["spells"]:
        mine = segments[spell["member_id"]]
        if len(mine) > 1:
            entangled.add(spell["member_id"])
            continue
        values = {**spell, **{k: mine[0][k] for k in ("agreement_code", "payer_id", "payer_type", "fund_source")},
                  "died_on": died[spell["member_id"]]}
        counts[tuple(("" if k != "declared_income_rp" else -1) if values[k] is None else values[k]
                     for k in KEY)] += 1
    return counts, entangled


def kept(conn: Any, registers: Registers) -> tuple[Counter[tuple[str, ...]], set[str]]:
    counts: Counter[tuple[str, ...]] = Counter()
    for row in conn.execute(select(registers.table("chain_counts"))):
        assert row.chains >= 0, row
        if row.chains:
            counts[tuple(row[:-1])] = row.chains
    entangled = [m for (m, _) in conn.execute(select(registers.table("entangled_members")))]
    assert len(entangled) == len(set(entangled))
    return counts, set(entangled)


def check(runner: ProjectionRunner) -> None:
    registers = runner.active
    assert isinstance(registers, Registers)
    with runner.engine.connect() as conn:
        counts, entangled = kept(conn, registers)
        expected_counts, expected_entangled = from_scratch(conn, registers)
    assert counts == expected_counts
    assert entangled == expected_entangled


@pytest.mark.parametrize("kind", ["memory", pytest.param("postgres", marks=pytest.mark.postgres)])
@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(ops=st.lists(operations, min_size=8, max_size=40),
       lags=st.lists(st.integers(0, 45), min_size=40, max_size=40), batch=st.integers(1, 12))
def test_the_counts_are_a_count_from_scratch_after_every_batch(kind: str, ops: list[tuple[Any, ...]],
                                                               lags: list[int], batch: int, tmp_path_factory: Any,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    with random_log_ledger(kind, tmp_path_factory.mktemp("counts"), monkeypatch, "c") as ledger:
        play(ledger, ops, lags)
        runner = ProjectionRunner(ledger.store, views_engine(ledger.store), Registers)
        while runner.step(batch_size=batch):
            check(runner)
        check(runner)
        runner.rebuild()
        check(runner)

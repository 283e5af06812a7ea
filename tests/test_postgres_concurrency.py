"""Two real processes pay the same member-period on PostgreSQL: exactly one payment is recorded.

Both processes load the member, wait at a barrier, then save. The store's unique (id, version) key
lets one win; the loser's retry re-decides on fresh state and gets "already paid". The audit chain
stays one line through the race: every committed write is one link after the one before, the losers'
rolled-back inserts leave holes in the positions and nothing in the chain.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from commands.messages import PayContribution
from eventstore.bootstrap import bootstrap
from ledger.errors import AlreadyDone
from ledger.events import ContributionPaid
from ledger.identity import member_id_for
from projections.chain_audit import verify
from tests.conftest import execute, nik
from tests.test_behaviour import enrol, sign

pytestmark = pytest.mark.postgres
MEMBERS = 4


def _racer(url: str, key_file: str, who: str, barrier: Any, results: Any) -> None:
    os.environ["JAMSOS_KEY_FILE"] = key_file
    ledger = bootstrap(url, create=False)
    real_load = ledger.store.load
    waited = {"done": False}

    def load_then_wait(cls: Any, aggregate_id: Any) -> Any:
        agg = real_load(cls, aggregate_id)
        if cls.__name__ == "Member" and not waited["done"]:
            waited["done"] = True
            barrier.wait(timeout=30)  # both have read version N before either writes N+1
        return agg

    ledger.store.load = load_then_wait  # type: ignore[method-assign]
    for i in range(MEMBERS):
        waited["done"] = False
        try:
            execute(ledger, PayContribution(nik=nik(i), periods=["2025-01"], amount_rp=16_800,
                                            payment_reference=f"{who}-{i}", command_id=f"{who}-cmd-{i}",
                                            effective_on=date(2025, 1, 7)))
            results.put((who, i, "paid", ""))
        except AlreadyDone as err:
            results.put((who, i, "already_done", f"{err.field}: {err.reason}"))
        except Exception as err:  # reported, then asserted on in the parent
            results.put((who, i, "error", repr(err)))
    ledger.close()


def test_two_processes_paying_the_same_member_period(pg_schema_url: str, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    key_file = str(tmp_path / "race.key")
    monkeypatch.setenv("JAMSOS_KEY_FILE", key_file)
    ledger = bootstrap(pg_schema_url)
    sign(ledger)
    for i in range(MEMBERS):
        enrol(ledger, i)
    ledger.close()

    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(2)
    results = ctx.Queue()
    procs = [ctx.Process(target=_racer, args=(pg_schema_url, key_file, who, barrier, results)) for who in ("A", "B")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
        assert p.exitcode == 0
    outcomes = [results.get(timeout=5) for _ in range(2 * MEMBERS)]
    errors = [o for o in outcomes if o[2] == "error"]
    assert not errors, errors

    ledger = bootstrap(pg_schema_url, create=False)
    try:
        for i in range(MEMBERS):
            mine = [o for o in outcomes if o[1] == i]
            assert sorted(o[2] for o in mine) == ["already_done", "paid"], mine
            loser = next(o for o in mine if o[2] == "already_done")
            assert loser[3].startswith("periods:") and "already paid" in loser[3]
            member_id = member_id_for(ledger.keyring.secrets.pepper, nik(i))
            payments = [e for e in ledger.store.events_of(member_id) if isinstance(e, ContributionPaid)]
            assert len(payments) == 1
            assert payments[0].periods == ["2025-01"]
        rows = ledger.store.chain_rows(0, 1000)
        assert [r.batch for r in rows] == list(range(1, len(rows) + 1))
        assert [r.previous for r in rows[1:]] == [r.hash for r in rows[:-1]]
        checked = verify(ledger.store)
        assert checked["ok"], checked["findings"]
        assert checked["chained"] == checked["checked"] == len(ledger.store.raw_events(0, 1000))
        assert len(rows) == 1 + MEMBERS + MEMBERS  # the agreement, each enrolment, each winning payment
    finally:
        ledger.close()

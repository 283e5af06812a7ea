"""The bulk paths decide once per distinct member state and copy the bytes; that must change nothing.

Random cohorts are played twice — with the per-state replication and with every member decided on its
own through the aggregate — and every stored event and every member's and claim's resulting state must
be byte-identical (but for the library's wall-clock ``timestamp`` and the randomly keyed sealed fields).
"""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from commands import bulk
from commands.messages import CohortRow, ImportCohort, PayCohort, PayContribution, SubmitClaim, Sweep
from eventstore.bootstrap import Ledger, bootstrap
from eventstore.clock import WIB, SimulatedClock
from eventstore.mapper import decode_state, stored_state
from ledger.claim import Claim
from ledger.member import Member
from ledger.values import ClaimType
from tests.conftest import PG_URL, execute, nik, require_postgres
from tests.test_behaviour import AGREEMENT, sign

_WALL_CLOCK = re.compile(rb'"timestamp":"[^"]+"')
_SEALED = re.compile(rb'"(personal|sealed_details)":\{[^}]*\}')


def _normalised(state: bytes) -> bytes:
    """Drop the wall-clock timestamp and the sealed fields (random keys and nonces differ per run)."""
    return _SEALED.sub(b"", _WALL_CLOCK.sub(b"", state))

member_plan = st.tuples(
    st.sampled_from(["PETANI", "NELAYAN"]),
    st.sampled_from([None, 1_000_000, 2_500_000]),
    st.sampled_from(["none", "paid_jan", "death_claim", "held_claim"]),
)


def _play(tmp: Path, plans: list[tuple[str, int | None, str]], replicate: bool, monkey: Any,
          url: str | None = None) -> list[Any]:
    monkey.setattr(bulk, "REPLICATE_BY_STATE", replicate)
    monkey.setenv("JAMSOS_KEY_FILE", str(tmp / "shared.key"))
    db = tmp / f"ledger-{replicate}.db"
    clock = SimulatedClock(datetime(2025, 1, 2, 8, tzinfo=WIB))
    ledger: Ledger = bootstrap(url or f"sqlite:///{db}", clock=clock)
    try:
        sign(ledger, last="2025-12")
        rows = [(k + 2, CohortRow(nik=nik(k), name=f"W{k}", role=role, declared_income_rp=income))
                for k, (role, income, _) in enumerate(plans)]
        execute(ledger, ImportCohort(agreement_id=AGREEMENT, rows=rows, effective_on=date(2025, 1, 6),
                                     command_id="import"))
        for k, (_, _, fate) in enumerate(plans):
            if fate in ("paid_jan", "death_claim"):
                clock.set_day(date(2025, 1, 7))
                quote = bulk.quote_cohort(ledger, AGREEMENT, ["2025-01"], date(2025, 1, 7))
                del quote
                view_amount = _member_rate(ledger, k)
                execute(ledger, PayContribution(nik=nik(k), periods=["2025-01"], amount_rp=view_amount,
                                                payment_reference=f"R-{k}", effective_on=date(2025, 1, 7),
                                                command_id=f"pay-{k}"))
            if fate == "death_claim":
                execute(ledger, SubmitClaim(claim_id=f"D-{k}", nik=nik(k), claim_type=ClaimType.JKM_DEATH,
                                            event_date=date(2025, 1, 20), effective_on=date(2025, 1, 22),
                                            command_id=f"claim-{k}"))
            if fate == "held_claim":
                execute(ledger, SubmitClaim(claim_id=f"H-{k}", nik=nik(k), claim_type=ClaimType.JKK_MEDICAL,
                                            event_date=date(2025, 1, 20), medical_cost_rp=1_000_000,
                                            effective_on=date(2025, 1, 22), command_id=f"claim-{k}"))
        for period, day in (("2025-02", date(2025, 2, 5)), ("2025-03", date(2025, 3, 5))):
            clock.set_day(day)
            quote = bulk.quote_cohort(ledger, AGREEMENT, [period], day)
            if quote["members_payable"]:
                execute(ledger, PayCohort(agreement_id=AGREEMENT, periods=[period], amount_rp=quote["amount_rp"],
                                          payment_reference=f"SP2D-{period}", effective_on=day,
                                          command_id=f"cohort-{period}"))
        clock.set_day(date(2025, 7, 1))
        execute(ledger, Sweep(effective_on=date(2025, 7, 1), command_id="sweep"))
        out = []
        for n in ledger.store.select_notifications(1, 100_000):
            # canonical form: decoding and re-encoding (and packing) any stored event gives back its exact bytes
            plain = ledger.store.mapper.plain_state(n.state)
            event = decode_state(n.topic, n.originator_id, n.originator_version, plain)
            assert stored_state(event) == n.state, n.topic
            out.append((n.originator_id, n.originator_version, n.topic, _normalised(plain)))
        ids = sorted({n[0] for n in out}, key=lambda i: i.hex)
        states = []
        kinds = {row.aggregate_id: row.kind for row in ledger.store.snapshots(ids).values()}
        for aggregate_id in ids:
            cls = {"Member": Member, "Claim": Claim}.get(kinds.get(aggregate_id, ""))  # no row: a command record
            if cls is not None:
                agg = ledger.store.load(cls, aggregate_id)
                states.append((aggregate_id.hex, cls.__name__, agg.version, agg.snapshot()))
        snaps = states
        return [out, snaps]
    finally:
        ledger.close()


def _member_rate(ledger: Ledger, k: int) -> int:
    from commands.common import member_for_nik

    member = member_for_nik(ledger, nik(k))
    from ledger.tariff import tariff_in_force

    rates = tariff_in_force(date(2025, 1, 1)).monthly_rp(set(member.state.programmes), member.state.declared_income_rp,
                                                         member.state.spells[-1].current_segment.payer_type)
    return sum(rates.values())


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plans=st.lists(member_plan, min_size=2, max_size=8))
def test_replicated_bulk_writes_equal_member_by_member(plans: list[Any], tmp_path_factory: Any,
                                                      monkeypatch: Any) -> None:
    tmp = tmp_path_factory.mktemp("eq")
    with monkeypatch.context() as m1:
        replicated = _play(tmp, plans, True, m1)
    with monkeypatch.context() as m2:
        one_by_one = _play(tmp, plans, False, m2)
    assert len(replicated[0]) == len(one_by_one[0])
    assert replicated == one_by_one


PG_PLANS = [(("PETANI", "NELAYAN")[k % 2], (None, 1_000_000, 2_500_000)[k % 3],
             ("none", "none", "paid_jan", "death_claim", "held_claim")[k % 5]) for k in range(80)]
"""80 members: the import and the cohort payments write more than 64 events at once, PostgreSQL's COPY path."""


@pytest.mark.postgres
def test_replicated_bulk_writes_equal_member_by_member_on_postgres(tmp_path: Path, monkeypatch: Any) -> None:
    require_postgres()
    urls = []
    for _ in range(2):
        schema = f"t_{uuid.uuid4().hex[:12]}"
        urls.append((schema, f"{PG_URL}{'&' if '?' in PG_URL else '?'}schema={schema}"))
    try:
        with monkeypatch.context() as m1:
            replicated = _play(tmp_path, PG_PLANS, True, m1, urls[0][1])
        with monkeypatch.context() as m2:
            one_by_one = _play(tmp_path, PG_PLANS, False, m2, urls[1][1])
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            for schema, _ in urls:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    assert len(replicated[0]) == len(one_by_one[0]) > 80
    assert replicated == one_by_one

"""UU 27/2022: no readable NIK or name in any stored byte; forgetting a member destroys their key only."""

from __future__ import annotations

import sqlite3
import zlib
from datetime import date
from pathlib import Path

import psycopg
import pytest

from commands.messages import EnrolMember, ForgetMember, PayContribution, SubmitClaim
from eventstore.bootstrap import bootstrap
from ledger.identity import member_id_for
from ledger.member import Member, sealed_personal_data
from ledger.values import ClaimType
from tests.conftest import PG_URL, agreement_view, execute, member_view, nik
from tests.test_behaviour import AGREEMENT, sign

PEOPLE = [(nik(500 + i), f"Siti Rahmawati Binti Ahmad {i:03d}") for i in range(12)]
HEIR = "Muhammad Rizky Pratama"


def _fill(url: str) -> None:
    ledger = bootstrap(url)
    try:
        sign(ledger)
        for n, (person_nik, name) in enumerate(PEOPLE):
            execute(ledger, EnrolMember(nik=person_nik, name=name, region_code="61.72", role="PETANI",
                                        agreement_id=AGREEMENT, address="Jl. Gajah Mada No. 7, Singkawang",
                                        effective_on=date(2025, 1, 6)))
            execute(ledger, PayContribution(nik=person_nik, periods=["2025-01"], amount_rp=16_800,
                                            payment_reference=f"SP2D-{n}", effective_on=date(2025, 1, 7)))
        execute(ledger, SubmitClaim(claim_id="C-1", nik=PEOPLE[0][0], claim_type=ClaimType.JKM_DEATH,
                                    event_date=date(2025, 1, 10), heir_name=HEIR, effective_on=date(2025, 1, 12)))
    finally:
        ledger.close()


def _assert_clean(blob: bytes) -> None:
    for person_nik, name in PEOPLE:
        assert person_nik.encode() not in blob, "a NIK is readable in the store"
        assert name.encode() not in blob, "a name is readable in the store"
    assert HEIR.encode() not in blob
    assert b"Gajah Mada" not in blob


def test_sqlite_files_hold_no_personal_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JAMSOS_KEY_FILE", str(tmp_path / "k.key"))
    db = tmp_path / "ledger.db"
    _fill(f"sqlite:///{db}")
    files = [p for p in tmp_path.iterdir() if p.name.startswith("ledger")]
    assert any(p.name == "ledger.keys.db" for p in files), "member keys must live in their own file"
    blob = b"".join(p.read_bytes() for p in files)
    with sqlite3.connect(db) as conn:  # snapshots are compressed: grep their plain text too
        blob += b"".join(zlib.decompress(s) for (s,) in conn.execute("SELECT state FROM jamsos_snapshot_states"))
    assert b"ContributionPaid" in blob  # the check reads the real store
    _assert_clean(blob)


@pytest.mark.postgres
def test_postgres_tables_hold_no_personal_data(pg_schema_url: str, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JAMSOS_KEY_FILE", str(tmp_path / "k.key"))
    _fill(pg_schema_url)
    schema = pg_schema_url.split("schema=")[1]
    blob = b""
    with psycopg.connect(PG_URL) as conn:
        for (state,) in conn.execute(f'SELECT state FROM "{schema}".jamsos_events'):
            blob += bytes(state)
        for (state,) in conn.execute(f'SELECT state FROM "{schema}".jamsos_snapshot_states'):
            blob += zlib.decompress(bytes(state))  # snapshots are compressed: grep their plain text
        for row in conn.execute(f'SELECT wrapped_key FROM "{schema}".jamsos_member_keys'):
            blob += bytes(row[0])
    assert len(blob) > 1000  # the check reads the real tables
    _assert_clean(blob)


def test_forget_destroys_the_key_for_every_reader(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JAMSOS_KEY_FILE", str(tmp_path / "k.key"))
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    _fill(url)
    person_nik = PEOPLE[1][0]
    ledger = bootstrap(url)
    try:
        totals_before = agreement_view(ledger, AGREEMENT, date(2025, 1, 20), None)
        assert member_view(ledger, person_nik, None, None, reveal=True)["personal"]["name"] == PEOPLE[1][1]
        execute(ledger, ForgetMember(nik=person_nik))
    finally:
        ledger.close()
    fresh = bootstrap(url)  # a new process: no cached key
    try:
        member = fresh.store.load(Member, member_id_for(fresh.keyring.secrets.pepper, person_nik))
        sealed = sealed_personal_data(fresh.store.events_of(member.id))
        assert sealed is not None
        assert fresh.keyring.open(member.id, sealed) is None
        assert member_view(fresh, person_nik, None, None, reveal=True)["personal"].startswith("erased")
        other = member_view(fresh, PEOPLE[2][0], None, None, reveal=True)
        assert other["personal"]["name"] == PEOPLE[2][1]
        assert agreement_view(fresh, AGREEMENT, date(2025, 1, 20), None) == totals_before
    finally:
        fresh.close()

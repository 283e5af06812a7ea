"""Erasure that survives backups and the database's own files (docs/rules.md#key-rotation): master-key epochs and
rotation (a dump of the key table is dead after it), crash points of a rotation, SQLite's secure_delete, the
VACUUM FULL after forget on PostgreSQL."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import event

from commands.messages import ForgetMember
from eventstore import keys
from eventstore.bootstrap import bootstrap
from eventstore.key_rotation import next_path, rotate, status
from eventstore.keys import Secrets
from ledger.errors import InvalidInput
from ledger.identity import member_id_for
from tests.conftest import PG_URL, execute, member_view
from tests.test_privacy import PEOPLE, _fill

ROOT = Path(__file__).resolve().parents[1]
FORGOTTEN = PEOPLE[1]


def _names(url: str) -> dict[str, object]:
    """Every person's name as a fresh process reads it (None once forgotten)."""
    ledger = bootstrap(url, create=False)
    try:
        out: dict[str, object] = {}
        for person_nik, _name in PEOPLE:
            personal = member_view(ledger, person_nik, None, None, reveal=True)["personal"]
            out[person_nik] = personal["name"] if isinstance(personal, dict) else None
        return out
    finally:
        ledger.close()


def _forget(url: str, person_nik: str) -> None:
    ledger = bootstrap(url)
    try:
        execute(ledger, ForgetMember(nik=person_nik))
    finally:
        ledger.close()


def _rotate(url: str) -> dict[str, object]:
    ledger = bootstrap(url, create=False)
    try:
        return rotate(ledger.keyring)
    finally:
        ledger.close()


def _unwraps(master_key: bytes, member_hex: str, wrapped: bytes) -> bool:
    try:
        AESGCM(master_key).decrypt(wrapped[:12], wrapped[12:], bytes.fromhex(member_hex))
        return True
    except InvalidTag:
        return False


def _expected(forgotten: set[str]) -> dict[str, object]:
    return {n: (None if n in forgotten else name) for n, name in PEOPLE}


# --- SQLite -----------------------------------------------------------------------------------------


@pytest.fixture
def sqlite_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("JAMSOS_KEY_FILE", str(tmp_path / "k.key"))
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    _fill(url)
    return url


def test_rotation_rewraps_every_key_and_retires_the_old_key_file(sqlite_url: str, tmp_path: Path) -> None:
    key_file = tmp_path / "k.key"
    old_text = key_file.read_text()
    old = Secrets.read(key_file)
    result = _rotate(sqlite_url)
    assert (result["epoch_before"], result["epoch"], result["rewrapped"]) == (0, 1, len(PEOPLE))
    new = Secrets.read(key_file)
    assert new.epoch == 1 and new.pepper == old.pepper and new.master_key != old.master_key
    assert oct(key_file.stat().st_mode & 0o777) == "0o600" and not next_path(key_file).exists()
    for path in tmp_path.iterdir():  # no copy of the old master key is left beside the store
        assert base64.b64encode(old.master_key) not in path.read_bytes(), path
    assert _names(sqlite_url) == _expected(set())  # everybody still decrypts, under the new key
    key_file.write_text(old_text)  # an old backup of the key file is refused, naming the epochs
    os.chmod(key_file, 0o600)
    with pytest.raises(InvalidInput, match="epoch 0, the key table epoch 1"):
        bootstrap(sqlite_url, create=False)


def test_a_running_process_follows_a_rotation_made_by_another(sqlite_url: str) -> None:
    ledger = bootstrap(sqlite_url, create=False)
    try:
        assert ledger.keyring.secrets.epoch == 0
        _rotate(sqlite_url)  # another process
        _forget(sqlite_url, PEOPLE[3][0])  # (a third one) new rows and deletes go on
        ledger.keyring._cache.clear()
        view = member_view(ledger, PEOPLE[2][0], None, None, reveal=True)  # reads a row of epoch 1: reloads
        assert view["personal"]["name"] == PEOPLE[2][1] and ledger.keyring.secrets.epoch == 1
        ledger.keyring.ensure_keys([uuid.uuid4()])  # a new key is written under the current master
        assert status(ledger.keyring)["keys_by_epoch"] == {1: len(PEOPLE)}
    finally:
        ledger.close()


CRASH = """
import os, sys
from eventstore.bootstrap import bootstrap
from eventstore import key_rotation
point = sys.argv[2]
if point == "before-commit":
    progress = lambda done, total: os._exit(9)
else:
    progress = None
    key_rotation._install = lambda pending, key_file: os._exit(9)
ledger = bootstrap(sys.argv[1], create=False)
key_rotation.rotate(ledger.keyring, progress)
"""


def _crash(url: str, point: str) -> None:
    done = subprocess.run([sys.executable, "-c", CRASH, url, point], cwd=ROOT, env=os.environ, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 9, done.stderr


def test_a_rotation_killed_before_its_commit_leaves_the_old_key_in_force(sqlite_url: str, tmp_path: Path) -> None:
    key_file = tmp_path / "k.key"
    before = key_file.read_bytes()
    _crash(sqlite_url, "before-commit")
    assert next_path(key_file).exists(), "the crash left the new key file unrenamed"
    assert key_file.read_bytes() == before
    assert _names(sqlite_url) == _expected(set())  # start-up ignores the unfinished .next
    result = _rotate(sqlite_url)  # the next rotation discards it and runs
    assert (result["epoch"], result["rewrapped"]) == (1, len(PEOPLE)) and not next_path(key_file).exists()
    assert _names(sqlite_url) == _expected(set())


def test_a_rotation_killed_after_its_commit_is_completed_at_start_up(sqlite_url: str, tmp_path: Path) -> None:
    key_file = tmp_path / "k.key"
    _crash(sqlite_url, "after-commit")
    assert next_path(key_file).exists() and Secrets.read(key_file).epoch == 0  # the table is at epoch 1
    assert _names(sqlite_url) == _expected(set())  # the first process to open the keys renames it
    assert Secrets.read(key_file).epoch == 1 and not next_path(key_file).exists()


def test_sqlite_forget_leaves_no_byte_of_the_wrapped_key_on_disk(sqlite_url: str, tmp_path: Path) -> None:
    keys_db = tmp_path / "ledger.keys.db"
    ledger = bootstrap(sqlite_url, create=False)
    try:
        member_hex = member_id_for(ledger.keyring.secrets.pepper, FORGOTTEN[0]).hex
        # set by the ledger on every connection (Debian's build also defaults to it: others need not)
        assert event.contains(ledger.keyring.engine, "connect", keys._secure_delete)
        with ledger.keyring.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA secure_delete").scalar_one() == 1
            wrapped = conn.exec_driver_sql("SELECT wrapped_key FROM jamsos_member_keys WHERE member_id = ?",
                                           (member_hex,)).scalar_one()
    finally:
        ledger.close()
    assert wrapped in keys_db.read_bytes(), "the search reads the real file"
    _forget(sqlite_url, FORGOTTEN[0])
    files = [p for p in tmp_path.iterdir() if p.name.startswith("ledger.keys.db")]  # with -wal, -journal if any
    for path in files:
        data = path.read_bytes()
        assert wrapped not in data and wrapped[12:] not in data and wrapped[20:44] not in data, path
    assert _names(sqlite_url) == _expected({FORGOTTEN[0]})


def test_the_cli_rotates_and_reports(sqlite_url: str, tmp_path: Path) -> None:
    jamsos = [sys.executable, "-m", "cli"]
    done = subprocess.run([*jamsos, "keys", "rotate", "--store", sqlite_url, "--json"], cwd=ROOT, env=os.environ,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["rewrapped"] == len(PEOPLE)
    shown = subprocess.run([*jamsos, "keys", "status", "--store", sqlite_url, "--json"], cwd=ROOT, env=os.environ,
                           capture_output=True, text=True, timeout=120)
    report = json.loads(shown.stdout)
    assert (report["key_file_epoch"], report["table_epoch"], report["keys_by_epoch"]) == (1, 1, {"1": len(PEOPLE)})
    assert [r["epoch"] for r in report["rotations"]] == [1]


# --- PostgreSQL ---------------------------------------------------------------------------------------


@pytest.mark.postgres
def test_postgres_a_dump_of_the_key_table_is_dead_after_forget_and_rotate(
        pg_schema_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """pg_dump the key table, forget a member, rotate; the dump restored into a fresh database opens nobody with the
    new key file, the live table still opens everybody else."""
    key_file = tmp_path / "k.key"
    monkeypatch.setenv("JAMSOS_KEY_FILE", str(key_file))
    _fill(pg_schema_url)
    schema = pg_schema_url.split("schema=")[1]
    dump = tmp_path / "keys.sql"
    subprocess.run(["pg_dump", "--data-only", f"--table={schema}.jamsos_member_keys", "--file", str(dump), PG_URL],
                   check=True, timeout=120)
    old_master = Secrets.read(key_file).master_key  # kept by the test only, to prove the dump was a live threat
    _forget(pg_schema_url, FORGOTTEN[0])
    result = _rotate(pg_schema_url)
    assert result["vacuumed"] is True and result["rewrapped"] == len(PEOPLE) - 1
    new = Secrets.read(key_file)
    assert base64.b64encode(old_master).decode() not in key_file.read_text()

    database = f"restore_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{database}"')
    restored_url = PG_URL.rsplit("/", 1)[0] + f"/{database}"
    try:
        with psycopg.connect(restored_url, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
            conn.execute(f'CREATE TABLE "{schema}".jamsos_member_keys (member_id VARCHAR(32) PRIMARY KEY, '
                         "wrapped_key BYTEA NOT NULL, epoch INTEGER NOT NULL DEFAULT 0)")
        subprocess.run(["psql", "--quiet", "-v", "ON_ERROR_STOP=1", "-f", str(dump), restored_url], check=True,
                       timeout=120, capture_output=True)
        with psycopg.connect(restored_url) as conn:
            query = f'SELECT member_id, wrapped_key FROM "{schema}".jamsos_member_keys'
            rows = [(m, bytes(w)) for m, w in conn.execute(query)]
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{database}"')
    pepper = new.pepper
    forgotten_hex = member_id_for(pepper, FORGOTTEN[0]).hex
    assert len(rows) == len(PEOPLE) and forgotten_hex in {m for m, _ in rows}, "the dump holds the forgotten key"
    assert all(_unwraps(old_master, m, w) for m, w in rows), "with the old master the dump opened everybody"
    assert not any(_unwraps(new.master_key, m, w) for m, w in rows), "with the new key file the dump opens nobody"
    assert _names(pg_schema_url) == _expected({FORGOTTEN[0]})  # the live table: everybody else still decrypts


@pytest.mark.postgres
def test_postgres_forget_scrubs_the_key_from_the_table_pages(
        pg_schema_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A plain VACUUM leaves a deleted tuple's bytes in the page's free space; forget runs VACUUM FULL."""
    monkeypatch.setenv("JAMSOS_KEY_FILE", str(tmp_path / "k.key"))
    _fill(pg_schema_url)
    schema = pg_schema_url.split("schema=")[1]
    table = f"{schema}.jamsos_member_keys"
    ledger = bootstrap(pg_schema_url, create=False)
    member_hex = member_id_for(ledger.keyring.secrets.pepper, PEOPLE[-1][0]).hex  # the last row written
    ledger.close()
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pageinspect")
        wrapped = bytes(conn.execute(f"SELECT wrapped_key FROM {table} WHERE member_id = %s",
                                     [member_hex]).fetchone()[0])  # type: ignore[index]

        def in_pages() -> bool:
            pages = conn.execute(f"SELECT pg_relation_size('{table}') / current_setting('block_size')::int"
                                 ).fetchone()[0]  # type: ignore[index]
            return any(wrapped in bytes(conn.execute("SELECT get_raw_page(%s, %s)", [table, i]).fetchone()[0])  # type: ignore[index]
                       for i in range(pages))

        assert in_pages(), "the search reads the real pages"
        _forget(pg_schema_url, PEOPLE[-1][0])
        assert not in_pages()

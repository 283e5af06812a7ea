"""Files the ledger creates are private to its user (docs/rules.md#file-modes): the store and its WAL/SHM, the key
database, the views database, the key file, exports 0600, the directories it creates 0700; a key file others may
read is refused."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import text

from commands.messages import EnrolMember
from eventstore.bootstrap import bootstrap
from ledger.errors import InvalidInput
from projections.export import write_csv, write_xlsx
from projections.runner import views_engine
from tests.conftest import execute, nik
from tests.test_behaviour import AGREEMENT, sign
from tests.test_export import report

ROOT = Path(__file__).resolve().parents[1]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def lax_umask() -> Iterator[None]:
    """The usual umask (files 0644, directories 0755 unless the ledger says otherwise)."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def test_the_store_its_wal_the_keys_and_the_views_are_created_0600(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    key_file = tmp_path / "secrets" / "deeper" / "ledger.key"
    monkeypatch.setenv("JAMSOS_KEY_FILE", str(key_file))
    ledger = bootstrap(f"sqlite:///{tmp_path / 'ledger.db'}")
    try:
        sign(ledger)
        execute(ledger, EnrolMember(nik=nik(1), name="Siti", region_code="61.72", role="PETANI",
                                    agreement_id=AGREEMENT, effective_on=date(2025, 1, 6)))
        with views_engine(ledger.store).connect() as conn:
            conn.execute(text("CREATE TABLE IF NOT EXISTS probe (x INTEGER)"))
            conn.commit()
            files = {p.name: mode(p) for p in tmp_path.iterdir() if p.is_file()}  # while open: -wal and -shm exist
    finally:
        ledger.close()
    assert {"ledger.db", "ledger.db-wal", "ledger.db-shm", "ledger.keys.db", "ledger.views.db"} <= set(files), files
    assert files == dict.fromkeys(files, 0o600), {k: oct(v) for k, v in files.items()}
    assert mode(key_file) == 0o600
    assert mode(key_file.parent) == 0o700 and mode(key_file.parent.parent) == 0o700


def test_exports_are_created_0600_in_0700_directories(tmp_path: Path) -> None:
    one = report("members", {"regions": (["region", "members"], [["61.72", 3]])}, {"members": 3})
    written = write_csv(one, tmp_path / "out" / "csv")
    write_xlsx(one, tmp_path / "out" / "members.xlsx")
    assert written and all(mode(p) == 0o600 for p in written)
    assert mode(tmp_path / "out" / "members.xlsx") == 0o600
    assert mode(tmp_path / "out" / "csv") == 0o700 and mode(tmp_path / "out") == 0o700


@pytest.mark.parametrize("loose", [0o644, 0o640, 0o604])
def test_a_key_file_others_may_read_is_refused_naming_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                              loose: int) -> None:
    key_file = tmp_path / "ledger.key"
    monkeypatch.setenv("JAMSOS_KEY_FILE", str(key_file))
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    bootstrap(url).close()
    os.chmod(key_file, loose)
    with pytest.raises(InvalidInput) as refused:
        bootstrap(url)
    assert refused.value.field == "key_file" and f"chmod 600 {key_file}" in refused.value.reason
    done = subprocess.run([sys.executable, "-m", "cli", "init", "--store", url], cwd=ROOT, env=os.environ,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and f"error: key_file: {key_file} is readable by others" in done.stderr
    os.chmod(key_file, 0o600)
    bootstrap(url).close()  # fixed as the message says

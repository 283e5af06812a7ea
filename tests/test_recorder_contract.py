"""The library's own recorder contract (``eventsourcing.tests.persistence``) on this project's store set-up.

Two recorders per database, each on a fresh store opened with :func:`eventstore.store.open_store` (its tables,
its snapshot and chain tables, its environment: SQLite in WAL with synchronous FULL, PostgreSQL in a schema of
its own with the library's EXCLUSIVE table lock):

- ``store.recorder``: the library's application recorder exactly as the store configured it;
- :class:`StoreWritePath`: the same recorder, except that ``insert_events`` goes through the store's own write
  path (:meth:`LedgerStore.write_rows`: the bulk paths' insert, the audit chain row, the table lock), so the
  contract's gap-free, ordered notification ids under concurrent writers hold for what the ledger writes too.

The cases are the library's: ``ApplicationRecorderTestCase`` (insert/select, conflicts raise IntegrityError,
contiguous ids, ten concurrent writers with two readers) and ``NonInterleavingNotificationIDsBaseCase`` (two
concurrent writes of 1,000 events never interleave their notification ids).
"""

from __future__ import annotations

import os
import tempfile
import threading
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from unittest import SkipTest

import psycopg
import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent
from eventsourcing.tests import persistence as contract

from eventstore.store import LedgerStore, event_rows, open_store
from ledger.errors import ConcurrencyConflict
from projections.chain_audit import verify

PG_URL = os.environ.get("JAMSOS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
SERVICES_REQUIRED = bool(os.environ.get("CI")) or os.environ.get("JAMSOS_REQUIRE_SERVICES") == "1"


class StoreWritePath:
    """The store's recorder, with ``insert_events`` through :meth:`LedgerStore.write_rows` (no snapshot rows):
    the notification ids it returns are the positions the write path checked and linked into the chain."""

    def __init__(self, store: LedgerStore) -> None:
        self.store = store
        self.recorder = store.recorder

    def insert_events(self, stored_events: Sequence[StoredEvent], **_: Any) -> Sequence[int] | None:
        if not stored_events:
            return []
        try:
            first = self.store.write_rows(event_rows(stored_events), [], {})
        except ConcurrencyConflict as err:  # the contract's error: the store maps it for the ledger
            if isinstance(err.__cause__, IntegrityError):
                raise err.__cause__ from None
            raise
        return list(range(first, first + len(stored_events)))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.recorder, name)


class _StoreCase:
    """A fresh store per test (``setUp``), closed and removed after it."""

    via_write_path = False
    store: LedgerStore

    def open_url(self) -> str:
        raise NotImplementedError

    def setUp(self) -> None:
        self._opened: list[LedgerStore] = []
        self._threads = set(threading.enumerate())
        self._url = self.open_url()

    def tearDown(self) -> None:
        # The library's concurrent case only signals its reader threads to stop: closing the store under a read
        # still in flight would close its connection beneath it (SQLite then crashes the process).
        for thread in set(threading.enumerate()) - self._threads:
            if not thread.daemon:
                thread.join(timeout=60)
        try:
            for store in self._opened if self.via_write_path else []:
                found = verify(store)  # every event the write path wrote is in the audit chain, unaltered
                assert found["ok"] and found["chained"] == found["checked"] == store.max_notification_id(), found
        finally:
            for store in self._opened:
                store.close()
            self.drop()

    def drop(self) -> None:
        """Remove what :meth:`open_url` made."""

    def create_recorder(self) -> Any:
        store = open_store(self._url)
        self._opened.append(store)
        return StoreWritePath(store) if self.via_write_path else store.recorder


class _SQLite(_StoreCase):
    def open_url(self) -> str:
        self._dir = tempfile.TemporaryDirectory(prefix="jamsos-contract-")
        return f"sqlite:///{Path(self._dir.name) / 'ledger.db'}"

    def drop(self) -> None:
        self._dir.cleanup()


class _Postgres(_StoreCase):
    def open_url(self) -> str:
        try:
            with psycopg.connect(PG_URL, connect_timeout=3) as conn:
                conn.execute("SELECT 1")
        except Exception as exc:
            if SERVICES_REQUIRED:
                raise AssertionError(f"PostgreSQL not reachable at {PG_URL}: {exc}") from exc
            raise SkipTest(f"PostgreSQL not reachable at {PG_URL}: {exc}") from exc
        self._schema = f"t_contract_{uuid.uuid4().hex[:12]}"
        sep = "&" if "?" in PG_URL else "?"
        return f"{PG_URL}{sep}schema={self._schema}"

    def drop(self) -> None:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{self._schema}" CASCADE')


class TestSQLiteRecorder(_SQLite, contract.ApplicationRecorderTestCase[Any]):
    pass


class TestSQLiteWritePath(_SQLite, contract.ApplicationRecorderTestCase[Any]):
    via_write_path = True


class TestSQLiteNonInterleaving(_SQLite, contract.NonInterleavingNotificationIDsBaseCase):
    pass


class TestSQLiteWritePathNonInterleaving(_SQLite, contract.NonInterleavingNotificationIDsBaseCase):
    via_write_path = True


@pytest.mark.postgres
class TestPostgresRecorder(_Postgres, contract.ApplicationRecorderTestCase[Any]):
    pass


@pytest.mark.postgres
class TestPostgresWritePath(_Postgres, contract.ApplicationRecorderTestCase[Any]):
    via_write_path = True


@pytest.mark.postgres
class TestPostgresNonInterleaving(_Postgres, contract.NonInterleavingNotificationIDsBaseCase):
    pass


@pytest.mark.postgres
class TestPostgresWritePathNonInterleaving(_Postgres, contract.NonInterleavingNotificationIDsBaseCase):
    via_write_path = True

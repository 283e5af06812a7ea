"""Per-member data keys (crypto-shredding) and the master secrets, kept apart from the event log.

- The key file holds the master key (wraps every member key) and the pepper (keys the NIK hash).
  ``jamsos init`` creates it; ``JAMSOS_MASTER_KEY`` / ``JAMSOS_PEPPER`` (base64) override it.
- Each member's 256-bit data key is stored wrapped (AES-GCM under the master key, member id as AAD)
  in a key table reached through SQLAlchemy: by default a separate SQLite file beside the store.
- ``forget`` deletes the wrapped key: every sealed field of that member, in every copy of the log,
  becomes unreadable. Amounts, periods, regions and roles are not sealed, so every total survives. The deleted
  bytes are scrubbed from the key database's own files: ``secure_delete`` on SQLite, ``VACUUM FULL`` on
  PostgreSQL (a plain VACUUM leaves them in the page's free space).
- Master-key epochs (docs/rules.md#key-rotation): the key file carries the epoch of its master key, each wrapped
  key row the epoch it was wrapped under, and ``jamsos_key_epochs`` the epochs the key table went through.
  ``eventstore.key_rotation`` re-wraps every row under a new master key and destroys the old one, so every earlier
  copy of the key table (dumps, WAL, replicas) is dead. A process that finds rows of a newer epoch reloads the key
  file; one that wrote a key under an older master than the table's retries under the current one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import (
    Column,
    DateTime,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    delete,
    event,
    func,
    insert,
    inspect,
    select,
    text,
)
from sqlalchemy.engine import Engine

from eventstore.engines import open_engine
from eventstore.files import private_dir, private_file
from ledger.errors import ConcurrencyConflict, InvalidInput
from ledger.identity import SealedPersonalData

KEY_BYTES = 32
KEYS_LOCK_KEY = 0x4A414D4B4559  # serialises CREATE TABLE of the key table across processes
NONCE_BYTES = 12

metadata = MetaData()
member_keys = Table(
    "jamsos_member_keys",
    metadata,
    Column("member_id", String(32), primary_key=True),
    Column("wrapped_key", LargeBinary, nullable=False),
    Column("epoch", Integer, nullable=False, server_default="0"),
)
key_epochs = Table(
    "jamsos_key_epochs",
    metadata,
    Column("epoch", Integer, primary_key=True),
    Column("rotated_at", DateTime(timezone=True), nullable=False),
    Column("rewrapped", Integer, nullable=False),
)
"""One row per completed rotation (no personal data: an epoch, a time, a count); the table's epoch is the largest,
0 when there is none."""
KEY_TABLES = (member_keys.name, key_epochs.name)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


class Secrets:
    """The master key, its epoch and the pepper. Invariant: both keys are exactly 32 bytes; ``path`` is the key file
    they came from (None for keys from the environment or generated in memory)."""

    def __init__(self, master_key: bytes, pepper: bytes, epoch: int = 0, path: Path | None = None) -> None:
        assert len(master_key) == KEY_BYTES and len(pepper) == KEY_BYTES and epoch >= 0
        self.master_key = master_key
        self.pepper = pepper
        self.epoch = epoch
        self.path = path

    @classmethod
    def generate(cls) -> Secrets:
        return cls(AESGCM.generate_key(bit_length=256), os.urandom(KEY_BYTES))

    def to_json(self) -> str:
        return json.dumps({"master_key": _b64(self.master_key), "pepper": _b64(self.pepper), "epoch": self.epoch})

    @classmethod
    def read(cls, key_file: Path) -> Secrets:
        """The key file as it is (refused when group or others may read it)."""
        check_private(key_file)
        try:
            data = json.loads(key_file.read_text())
            return cls(base64.b64decode(data["master_key"]), base64.b64decode(data["pepper"]),
                       int(data.get("epoch", 0)), key_file)
        except (ValueError, KeyError, TypeError, AssertionError):
            raise InvalidInput("key_file", f"{key_file} is not a jamsos key file (master_key, pepper, epoch)"
                               ) from None

    @classmethod
    def load(cls, key_file: Path, *, create: bool) -> Secrets:
        env_master, env_pepper = os.environ.get("JAMSOS_MASTER_KEY"), os.environ.get("JAMSOS_PEPPER")
        if env_master and env_pepper:
            return cls(base64.b64decode(env_master), base64.b64decode(env_pepper),
                       int(os.environ.get("JAMSOS_MASTER_KEY_EPOCH", "0")))
        if key_file.exists():
            return cls.read(key_file)
        if not create:
            raise InvalidInput("store", f"no key file at {key_file}: run `jamsos init` first")
        secrets = cls.generate()
        secrets.path = key_file
        private_dir(key_file.parent)
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.to_json())
            fh.flush()
            os.fsync(fh.fileno())
        return secrets


def check_private(key_file: Path) -> None:
    """Refuse a key file that group or others may read or write (docs/rules.md#file-modes)."""
    mode = key_file.stat().st_mode & 0o777
    if mode & 0o077:
        raise InvalidInput("key_file", f"{key_file} is readable by others (mode {mode:04o}): the master key and the "
                           f"pepper must be private; run `chmod 600 {key_file}` (and check who could read it)")


def _secure_delete(dbapi_connection: Any, _record: Any) -> None:
    """Every connection to a SQLite key database zeroes what it deletes (docs/rules.md#key-rotation)."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA secure_delete = ON")
    cursor.close()


class MemberKeyring:
    """Implements :class:`ledger.identity.PersonalDataCipher` over a SQLAlchemy key table."""

    def __init__(self, secrets: Secrets, keystore_url: str) -> None:
        self.secrets = secrets
        self._master = AESGCM(secrets.master_key)
        self.engine: Engine = open_engine(keystore_url)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _secure_delete)
            database = self.engine.url.database
            if database and database != ":memory:":
                private_file(Path(database))  # 0600 before SQLite creates it (its journal and WAL follow)
        with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": KEYS_LOCK_KEY})
            metadata.create_all(conn)
            columns = {c["name"] for c in inspect(conn).get_columns(member_keys.name)}
            if "epoch" not in columns:  # a key table from before master-key epochs: every key is of epoch 0
                conn.execute(text(f"ALTER TABLE {member_keys.name} ADD COLUMN epoch INTEGER NOT NULL DEFAULT 0"))
        self._cache: dict[uuid.UUID, bytes] = {}
        self.check_epoch()  # completes a rotation left committed; refuses a key file of another epoch

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    def table_epoch(self, conn: Any = None) -> int:
        """The key table's master-key epoch: the last completed rotation's (0 before any)."""
        if conn is None:
            with self.engine.connect() as own:
                return self.table_epoch(own)
        return int(conn.execute(select(func.coalesce(func.max(key_epochs.c.epoch), 0))).scalar_one())

    def use(self, secrets: Secrets) -> None:
        """Wrap and unwrap under ``secrets`` from now on (a rotation's new master key). The pepper never changes."""
        if secrets.pepper != self.secrets.pepper:
            raise InvalidInput("key_file", "the pepper of the key file changed: member ids would change; restore "
                               "the key file of this store")
        self.secrets = secrets
        self._master = AESGCM(secrets.master_key)

    def check_epoch(self) -> None:
        """Refuse a key file of another epoch than the key table's (an old or a future backup of it)."""
        table = self.table_epoch()
        if table != self.secrets.epoch:
            self._reload(table)

    def _reload(self, wanted: int) -> None:
        """Rows of epoch ``wanted`` were met: read the key file again (another process rotated), completing a
        rotation it left committed but not renamed; refuse when the file still has another epoch."""
        path = self.secrets.path
        if path is not None:
            from eventstore.key_rotation import complete_pending

            complete_pending(path, self)
            fresh = Secrets.read(path)
            if fresh.epoch == wanted:
                self.use(fresh)
                return
        raise InvalidInput("key_file", f"the key file {path or '(environment)'} holds master-key epoch "
                           f"{self.secrets.epoch}, the key table epoch {wanted}: use the key file of the "
                           "current epoch (a key file of an earlier epoch opens no member key)")

    def digest(self, data: bytes) -> bytes:
        return hmac.new(self.secrets.pepper, data, hashlib.sha256).digest()

    def _wrap(self, member_id: uuid.UUID, key: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._master.encrypt(nonce, key, member_id.bytes)

    def _unwrap(self, member_id: uuid.UUID, wrapped: bytes) -> bytes:
        return self._master.decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], member_id.bytes)

    def _key(self, member_id: uuid.UUID) -> bytes | None:
        if member_id in self._cache:
            return self._cache[member_id]
        with self.engine.connect() as conn:
            query = select(member_keys.c.wrapped_key, member_keys.c.epoch).where(
                member_keys.c.member_id == member_id.hex)
            row = conn.execute(query).first()
        if row is None:
            return None
        if row[1] != self.secrets.epoch:
            self._reload(row[1])
        key = self._unwrap(member_id, row[0])
        self._cache[member_id] = key
        return key

    def ensure_keys(self, member_ids: Iterable[uuid.UUID]) -> None:
        """Create (and commit) data keys for members that have none: before any event refers to them."""
        ids = [m for m in dict.fromkeys(member_ids) if m not in self._cache]
        if not ids:
            return
        existing: dict[str, tuple[bytes, int]] = {}
        with self.engine.connect() as conn:
            for i in range(0, len(ids), 500):
                chunk = [m.hex for m in ids[i : i + 500]]
                for mid, wrapped, epoch in conn.execute(
                    select(member_keys.c.member_id, member_keys.c.wrapped_key, member_keys.c.epoch).where(
                        member_keys.c.member_id.in_(chunk))
                ):
                    existing[mid] = (wrapped, epoch)
        for _wrapped, epoch in existing.values():
            if epoch != self.secrets.epoch:
                self._reload(epoch)
                break
        fresh: dict[uuid.UUID, bytes] = {}
        for m in ids:
            if m.hex in existing:
                self._cache[m] = self._unwrap(m, existing[m.hex][0])
            else:
                fresh[m] = AESGCM.generate_key(bit_length=256)
        if fresh:
            self._insert_keys(fresh)
            self._cache.update(fresh)

    def _insert_keys(self, keys: dict[uuid.UUID, bytes]) -> None:
        """Insert new wrapped keys under the table's current epoch. The insert comes first: it waits for a rotation
        in progress (which locks the table), then the epoch read sees that rotation; a key wrapped under a master
        that was just retired is rolled back and wrapped again under the new one."""
        for _attempt in range(3):
            epoch = self.secrets.epoch
            rows = [{"member_id": m.hex, "wrapped_key": self._wrap(m, k), "epoch": epoch} for m, k in keys.items()]
            with self.engine.connect() as conn:
                conn.execute(insert(member_keys), rows)
                table = self.table_epoch(conn)
                if table == epoch:
                    conn.commit()
                    return
                conn.rollback()
            self._reload(table)
        raise ConcurrencyConflict("keys", "the master key was rotated during this write three times: retry")

    def seal(self, member_id: uuid.UUID, data: bytes) -> SealedPersonalData:
        self.ensure_keys([member_id])
        key = self._cache[member_id]
        nonce = os.urandom(NONCE_BYTES)
        ciphertext = AESGCM(key).encrypt(nonce, data, member_id.bytes)
        return SealedPersonalData(key_id=member_id.hex, nonce_b64=_b64(nonce), ciphertext_b64=_b64(ciphertext))

    def open(self, member_id: uuid.UUID, sealed: SealedPersonalData) -> bytes | None:
        key = self._key(member_id)
        if key is None:
            return None
        nonce = base64.b64decode(sealed.nonce_b64)
        return AESGCM(key).decrypt(nonce, base64.b64decode(sealed.ciphertext_b64), member_id.bytes)

    def forget(self, member_id: uuid.UUID) -> bool:
        """Delete the member's wrapped key, then scrub it from the key database's files (docs/rules.md#key-rotation):
        SQLite's secure_delete zeroes it; on PostgreSQL a ``VACUUM FULL`` rewrites the key table (a plain VACUUM
        leaves the deleted tuple's bytes in the page). Copies made before (dumps, WAL, replicas) die at the next
        ``jamsos keys rotate``."""
        self._cache.pop(member_id, None)
        with self.engine.begin() as conn:
            result = conn.execute(delete(member_keys).where(member_keys.c.member_id == member_id.hex))
        if result.rowcount:
            self.vacuum()
        return bool(result.rowcount)

    def vacuum(self) -> None:
        """PostgreSQL: rewrite the key tables (``VACUUM FULL``: outside any transaction). SQLite needs none."""
        if not self.is_postgres:
            return
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            for table in KEY_TABLES:
                conn.execute(text(f"VACUUM FULL {table}"))

    def close(self) -> None:
        self.engine.dispose()

"""Per-member data keys (crypto-shredding) and the master secrets, kept apart from the event log.

- The key file holds the master key (wraps every member key) and the pepper (keys the NIK hash).
  ``jamsos init`` creates it; ``JAMSOS_MASTER_KEY`` / ``JAMSOS_PEPPER`` (base64) override it.
- Each member's 256-bit data key is stored wrapped (AES-GCM under the master key, member id as AAD)
  in a key table reached through SQLAlchemy: by default a separate SQLite file beside the store.
- ``forget`` deletes the wrapped key: every sealed field of that member, in every copy of the log,
  becomes unreadable. Amounts, periods, regions and roles are not sealed, so every total survives.
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

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import (
    Column,
    LargeBinary,
    MetaData,
    String,
    Table,
    create_engine,
    delete,
    insert,
    select,
    text,
)
from sqlalchemy.engine import Engine
from sqlalchemy.pool import StaticPool

from ledger.errors import InvalidInput
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
)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


class Secrets:
    """The master key and the pepper. Invariant: both are exactly 32 bytes."""

    def __init__(self, master_key: bytes, pepper: bytes) -> None:
        assert len(master_key) == KEY_BYTES and len(pepper) == KEY_BYTES
        self.master_key = master_key
        self.pepper = pepper

    @classmethod
    def generate(cls) -> Secrets:
        return cls(AESGCM.generate_key(bit_length=256), os.urandom(KEY_BYTES))

    @classmethod
    def load(cls, key_file: Path, *, create: bool) -> Secrets:
        env_master, env_pepper = os.environ.get("JAMSOS_MASTER_KEY"), os.environ.get("JAMSOS_PEPPER")
        if env_master and env_pepper:
            return cls(base64.b64decode(env_master), base64.b64decode(env_pepper))
        if key_file.exists():
            data = json.loads(key_file.read_text())
            return cls(base64.b64decode(data["master_key"]), base64.b64decode(data["pepper"]))
        if not create:
            raise InvalidInput("store", f"no key file at {key_file}: run `jamsos init` first")
        secrets = cls.generate()
        key_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump({"master_key": _b64(secrets.master_key), "pepper": _b64(secrets.pepper)}, fh)
        return secrets


class MemberKeyring:
    """Implements :class:`ledger.identity.PersonalDataCipher` over a SQLAlchemy key table."""

    def __init__(self, secrets: Secrets, keystore_url: str) -> None:
        self.secrets = secrets
        self._master = AESGCM(secrets.master_key)
        if keystore_url in ("sqlite://", "sqlite:///:memory:"):
            self.engine: Engine = create_engine(
                "sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False}
            )
        else:
            self.engine = create_engine(keystore_url)
        with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": KEYS_LOCK_KEY})
            metadata.create_all(conn)
        self._cache: dict[uuid.UUID, bytes] = {}

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
            query = select(member_keys.c.wrapped_key).where(member_keys.c.member_id == member_id.hex)
            row = conn.execute(query).first()
        if row is None:
            return None
        key = self._unwrap(member_id, row[0])
        self._cache[member_id] = key
        return key

    def ensure_keys(self, member_ids: Iterable[uuid.UUID]) -> None:
        """Create (and commit) data keys for members that have none: before any event refers to them."""
        ids = [m for m in dict.fromkeys(member_ids) if m not in self._cache]
        if not ids:
            return
        existing: dict[str, bytes] = {}
        with self.engine.connect() as conn:
            for i in range(0, len(ids), 500):
                chunk = [m.hex for m in ids[i : i + 500]]
                for mid, wrapped in conn.execute(
                    select(member_keys.c.member_id, member_keys.c.wrapped_key).where(member_keys.c.member_id.in_(chunk))
                ):
                    existing[mid] = wrapped
        new_rows = []
        for m in ids:
            if m.hex in existing:
                self._cache[m] = self._unwrap(m, existing[m.hex])
            else:
                key = AESGCM.generate_key(bit_length=256)
                new_rows.append({"member_id": m.hex, "wrapped_key": self._wrap(m, key)})
                self._cache[m] = key
        if new_rows:
            with self.engine.begin() as conn:
                conn.execute(insert(member_keys), new_rows)

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
        self._cache.pop(member_id, None)
        with self.engine.begin() as conn:
            result = conn.execute(delete(member_keys).where(member_keys.c.member_id == member_id.hex))
        return bool(result.rowcount)

    def close(self) -> None:
        self.engine.dispose()

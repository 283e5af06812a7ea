"""Master-key rotation: every live member key re-wrapped under a new master key, the old one destroyed
(docs/rules.md#key-rotation).

Invariants:
- The pepper never changes (member ids derive from it); only the master key and its epoch do.
- Steps, each safe to crash after: (1) lock the key table (other writers wait; readers go on); (2) write the new key
  file beside the old one as ``<key file>.next`` (0600, fsynced); (3) re-wrap every row under the new master key
  and mark it with the new epoch, and record the epoch in ``jamsos_key_epochs``, in one transaction; (4) rename
  ``.next`` over the key file (the old file's bytes overwritten), fsync the directory; (5) ``VACUUM FULL`` the key
  table on PostgreSQL, so the old wrapped keys leave its pages.
- A crash before (3) commits leaves the old key file right and the table unchanged: the ``.next`` is ignored at
  start-up and discarded by the next ``jamsos keys rotate``. A crash after (3) leaves the table at the new epoch:
  the first process that opens the keys completes the rename (:func:`complete_pending`).
- No copy of an old master key is kept anywhere: every earlier copy of the key table (a dump, the WAL, a replica,
  a backup) then opens no member key, and a forgotten member's key, deleted before the rotation, is gone from
  every copy. A key file of an earlier epoch is refused at start-up.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import bindparam, func, insert, select, text, update

from eventstore.keys import KEY_TABLES, MemberKeyring, Secrets, key_epochs, member_keys
from ledger.errors import ConcurrencyConflict, InvalidInput

BATCH_ROWS = 5_000
"""Rows re-wrapped per UPDATE round trip (and per progress report)."""


def next_path(key_file: Path) -> Path:
    return key_file.with_name(key_file.name + ".next")


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_private(path: Path, content: str) -> None:
    """Write ``path`` 0600 (replacing what it held) and fsync it and its directory."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(content)
        fh.flush()
        os.fsync(fh.fileno())
    _fsync_dir(path.parent)


def _install(pending: Path, key_file: Path) -> None:
    """Rename the new key file over the old one, then overwrite the old file's bytes through a descriptor kept
    open (best effort: a journaling or copy-on-write file system may keep old blocks; keep key files on encrypted
    storage). When another process renamed it first, nothing is overwritten."""
    old = os.open(key_file, os.O_RDWR) if key_file.exists() else None
    try:
        try:
            os.replace(pending, key_file)
        except FileNotFoundError:
            return  # installed by another process: ``old`` may be the new file
        _fsync_dir(key_file.parent)
        if old is not None and os.fstat(old).st_ino != key_file.stat().st_ino:
            os.pwrite(old, os.urandom(os.fstat(old).st_size), 0)
            os.fsync(old)
    finally:
        if old is not None:
            os.close(old)


def complete_pending(key_file: Path, keyring: MemberKeyring) -> str | None:
    """A ``.next`` left by a rotation: ``"completed"`` when the key table already has its epoch (renamed now),
    ``"pending"`` when it has not (a rotation in progress, or one that died before its commit: the key file is
    still the right one), None when there is none."""
    pending = next_path(key_file)
    if not pending.exists():
        return None
    try:
        new = Secrets.read(pending)
    except (InvalidInput, FileNotFoundError):
        return "pending"  # being written (or already renamed by another process)
    if keyring.table_epoch() != new.epoch:
        return "pending"
    _install(pending, key_file)
    return "completed"


def _lock(conn: Any) -> None:
    """Writers wait, readers go on, until the rotation commits."""
    if conn.dialect.name == "postgresql":
        conn.execute(text(f"LOCK TABLE {', '.join(KEY_TABLES)} IN SHARE ROW EXCLUSIVE MODE"))
    else:
        conn.execute(text(f"DELETE FROM {key_epochs.name} WHERE 0"))  # a write: takes SQLite's write lock now


def _rewrap(conn: Any, keyring: MemberKeyring, old: Secrets, new: Secrets, pending: Path,
            progress: Callable[[int, int], None] | None) -> int:
    """Steps (1)-(3) in one transaction; the ``.next`` is removed again when they fail."""
    old_master, new_master = AESGCM(old.master_key), AESGCM(new.master_key)
    _lock(conn)
    if keyring.table_epoch(conn) != old.epoch:  # its .next is its own: not ours to remove
        conn.rollback()
        raise ConcurrencyConflict("keys", "another rotation finished meanwhile: run `jamsos keys rotate` again")
    try:
        _write_private(pending, new.to_json())  # replaces the .next of a rotation that died before its commit
        rows = conn.execute(select(member_keys.c.member_id, member_keys.c.wrapped_key, member_keys.c.epoch)).all()
        stale = [r for r in rows if r[2] != old.epoch]
        if stale:
            raise InvalidInput("keys", f"{len(stale)} member keys are of another epoch than the key table's "
                               f"{old.epoch} (e.g. epoch {stale[0][2]}): the key table was restored in part")
        statement = (update(member_keys).where(member_keys.c.member_id == bindparam("mid"))
                     .values(wrapped_key=bindparam("wrapped"), epoch=new.epoch))
        done = 0
        for i in range(0, len(rows), BATCH_ROWS):
            batch = []
            for member_hex, wrapped, _epoch in rows[i : i + BATCH_ROWS]:
                aad = bytes.fromhex(member_hex)
                key = old_master.decrypt(wrapped[:12], wrapped[12:], aad)
                nonce = os.urandom(12)
                batch.append({"mid": member_hex, "wrapped": nonce + new_master.encrypt(nonce, key, aad)})
            conn.execute(statement, batch)
            done += len(batch)
            if progress is not None:
                progress(done, len(rows))
        conn.execute(insert(key_epochs), [{"epoch": new.epoch, "rotated_at": datetime.now(UTC), "rewrapped": done}])
        left = conn.execute(select(func.count()).where(member_keys.c.epoch != new.epoch)).scalar_one()
        if left:  # a row inserted past the lock would be lost with the old master: never commit that
            conn.rollback()
            raise ConcurrencyConflict("keys", f"{left} member keys were not re-wrapped: run again")
        conn.commit()
    except BaseException:
        conn.rollback()
        pending.unlink(missing_ok=True)
        raise
    return done


def rotate(keyring: MemberKeyring, progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Re-wrap every member key under a new master key and make its key file the key file; returns the epochs,
    the count and the time taken."""
    key_file = keyring.secrets.path
    if key_file is None:
        raise InvalidInput("key_file", "keys given by JAMSOS_MASTER_KEY/JAMSOS_PEPPER are rotated by whoever sets "
                           "them; rotate a store with a key file")
    started = time.monotonic()
    completed = complete_pending(key_file, keyring)  # a rotation that committed but did not rename
    keyring.check_epoch()
    old = keyring.secrets
    new = Secrets(AESGCM.generate_key(bit_length=256), old.pepper, old.epoch + 1, key_file)
    pending = next_path(key_file)
    with keyring.engine.connect() as conn:
        done = _rewrap(conn, keyring, old, new, pending, progress)
    _install(pending, key_file)
    keyring.use(new)
    rewrapped_s = time.monotonic() - started
    keyring.vacuum()
    return {"key_file": str(key_file), "epoch_before": old.epoch, "epoch": new.epoch, "rewrapped": done,
            "completed_earlier_rotation": completed == "completed", "vacuumed": keyring.is_postgres,
            "rewrap_s": round(rewrapped_s, 3), "total_s": round(time.monotonic() - started, 3)}


def status(keyring: MemberKeyring) -> dict[str, Any]:
    """The key file's epoch, the key table's, the keys per epoch, the rotations done and any unfinished one."""
    path = keyring.secrets.path
    with keyring.engine.connect() as conn:
        by_epoch = {int(e): int(n) for e, n in conn.execute(
            select(member_keys.c.epoch, func.count()).group_by(member_keys.c.epoch))}
        rotations = [{"epoch": e, "rotated_at": str(at), "rewrapped": n} for e, at, n in conn.execute(
            select(key_epochs.c.epoch, key_epochs.c.rotated_at, key_epochs.c.rewrapped).order_by(key_epochs.c.epoch))]
        table = keyring.table_epoch(conn)
    return {"key_file": str(path) if path else None, "key_file_epoch": keyring.secrets.epoch, "table_epoch": table,
            "keys": sum(by_epoch.values()), "keys_by_epoch": by_epoch, "rotations": rotations,
            "unfinished_rotation": bool(path and next_path(path).exists())}

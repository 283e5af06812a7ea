"""Editing stored events behind the ledger's back, as an attacker with the database file would: the state is
unpacked, edited as text and packed again (:mod:`eventstore.state_codec`), so the edited row is a well-formed
event that only the audit chain can tell from the original."""

from __future__ import annotations

import sqlite3
from typing import Any

from eventstore.state_codec import pack, unpack


def edited_state(state: bytes, old: str, new: str) -> bytes:
    plain = unpack(bytes(state)).replace(old.encode(), new.encode())
    return plain if bytes(state)[:1] == b"{" else pack(plain)


def _holds(state: bytes, text: str) -> int:
    return int(text.encode() in unpack(bytes(state)))


def with_state_functions(conn: sqlite3.Connection) -> sqlite3.Connection:
    """``conn`` with SQL functions ``edited(state, old, new)`` (the state with ``old`` replaced, re-packed) and
    ``holds(state, text)`` (1 if the unpacked state contains ``text``)."""
    conn.create_function("edited", 3, edited_state, deterministic=True)
    conn.create_function("holds", 2, _holds, deterministic=True)
    return conn


def edit_postgres_state(conn: Any, table: str, position: int, old: str, new: str) -> int:
    """The PostgreSQL form: one row's state edited in Python (``conn``: a psycopg connection)."""
    row = conn.execute(f"SELECT state FROM {table} WHERE notification_id = %s", (position,)).fetchone()
    if row is None or old.encode() not in unpack(bytes(row[0])):
        return 0
    return int(conn.execute(f"UPDATE {table} SET state = %s WHERE notification_id = %s",
                            (edited_state(bytes(row[0]), old, new), position)).rowcount)

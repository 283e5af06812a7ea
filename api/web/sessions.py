"""Dashboard sessions and failed sign-ins, in two small tables beside the store (never in the event log: a
session is not a business fact, and a stranger's failed attempts must not be able to write to the ledger).

A session id is 256 random bits, sent only in the HttpOnly cookie; the table keeps its SHA-256, so reading the
table does not give anyone a live session. Each session has its own CSRF token (the synchroniser-token pattern:
every form carries it, every POST is checked against it).

Invariants:
- A session lives at most :data:`SESSION_LIFETIME_S` from sign-in and :data:`SESSION_IDLE_S` from its last use;
  past either it is deleted when next presented, and signing out deletes it.
- A name with :data:`FAILURES_MAX` failed sign-ins within :data:`LOCKOUT_WINDOW_S` is locked until the oldest of
  them leaves the window; a successful sign-in clears its failures.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    delete,
    func,
    insert,
    select,
    update,
)

from eventstore.engines import open_engine
from eventstore.files import private_file

SESSION_LIFETIME_S = 8 * 3600
"""A working day: a session ends eight hours after sign-in whatever happens."""
SESSION_IDLE_S = 30 * 60
"""Half an hour without a request ends a session (a public-sector workstation left unlocked)."""
FAILURES_MAX = 5
LOCKOUT_WINDOW_S = 15 * 60
SESSION_SECRET_BYTES = 32
NAME_LEN_MAX = 64

metadata = MetaData()
web_sessions = Table(
    "jamsos_web_sessions", metadata,
    Column("id_sha256", String(64), primary_key=True),
    Column("principal", String(NAME_LEN_MAX), nullable=False, index=True),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("seen_at", DateTime(timezone=True), nullable=False),
)
web_login_failures = Table(
    "jamsos_web_login_failures", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(NAME_LEN_MAX), nullable=False, index=True),
    Column("failed_at", DateTime(timezone=True), nullable=False),
)


@dataclass(frozen=True, slots=True)
class Session:
    """A live session: whose it is and the CSRF token its forms carry."""

    principal: str
    csrf_token: str
    created_at: datetime


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _aware(value: datetime) -> datetime:
    """SQLite gives naive datetimes back: they were written in UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class SessionStore:
    """The session and failure tables (a SQLAlchemy URL: ``sqlite://`` in memory, a file, or PostgreSQL)."""

    def __init__(self, url: str) -> None:
        self.engine: Engine = open_engine(url)
        if self.engine.dialect.name == "sqlite" and self.engine.url.database not in (None, "", ":memory:"):
            private_file(Path(str(self.engine.url.database)))  # session hashes are for the server's eyes only
        metadata.create_all(self.engine)

    def open(self, principal: str, now: datetime) -> tuple[str, Session]:
        """A new session for ``principal``: the cookie value (shown to the browser only) and the session."""
        assert len(principal) <= NAME_LEN_MAX
        secret = secrets.token_urlsafe(SESSION_SECRET_BYTES)
        session = Session(principal, secrets.token_urlsafe(32), now)
        with self.engine.begin() as conn:
            conn.execute(insert(web_sessions).values(id_sha256=_sha256(secret), principal=principal,
                                                     csrf_token=session.csrf_token, created_at=now, seen_at=now))
        return secret, session

    def get(self, secret: str | None, now: datetime) -> Session | None:
        """The live session of this cookie value (and it is marked as used now); None for an unknown, idle or
        too old one (which is deleted)."""
        if not secret or len(secret) > 128:
            return None
        key = _sha256(secret)
        with self.engine.begin() as conn:
            row = conn.execute(select(web_sessions).where(web_sessions.c.id_sha256 == key)).first()
            if row is None:
                return None
            created, seen = _aware(row.created_at), _aware(row.seen_at)
            if now - created > timedelta(seconds=SESSION_LIFETIME_S) or now - seen > timedelta(seconds=SESSION_IDLE_S):
                conn.execute(delete(web_sessions).where(web_sessions.c.id_sha256 == key))
                return None
            conn.execute(update(web_sessions).where(web_sessions.c.id_sha256 == key).values(seen_at=now))
        return Session(row.principal, row.csrf_token, created)

    def close(self, secret: str | None) -> None:
        if secret:
            with self.engine.begin() as conn:
                conn.execute(delete(web_sessions).where(web_sessions.c.id_sha256 == _sha256(secret)))

    def close_all_of(self, principal: str) -> int:
        """End every session of ``principal`` (revoked, or its password changed); how many."""
        with self.engine.begin() as conn:
            return int(conn.execute(delete(web_sessions).where(web_sessions.c.principal == principal)).rowcount)

    def locked_for_s(self, name: str, now: datetime) -> int:
        """Seconds until ``name`` may try again (0: not locked)."""
        since = now - timedelta(seconds=LOCKOUT_WINDOW_S)
        with self.engine.connect() as conn:
            rows = conn.execute(select(web_login_failures.c.failed_at)
                                .where(web_login_failures.c.name == name[:NAME_LEN_MAX],
                                       web_login_failures.c.failed_at > since)
                                .order_by(web_login_failures.c.failed_at.desc()).limit(FAILURES_MAX)).all()
        if len(rows) < FAILURES_MAX:
            return 0
        oldest = _aware(rows[-1].failed_at)
        return max(1, int((oldest + timedelta(seconds=LOCKOUT_WINDOW_S) - now).total_seconds()))

    def fail(self, name: str, now: datetime) -> int:
        """Record a failed sign-in of ``name``; the failures within the window, this one included."""
        since = now - timedelta(seconds=LOCKOUT_WINDOW_S)
        with self.engine.begin() as conn:
            conn.execute(delete(web_login_failures).where(web_login_failures.c.failed_at <= since))
            conn.execute(insert(web_login_failures).values(name=name[:NAME_LEN_MAX], failed_at=now))
            return int(conn.execute(select(func.count()).select_from(web_login_failures)
                                    .where(web_login_failures.c.name == name[:NAME_LEN_MAX])).scalar_one())

    def succeed(self, name: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(web_login_failures).where(web_login_failures.c.name == name[:NAME_LEN_MAX]))

    def dispose(self) -> None:
        self.engine.dispose()

"""One way to open a SQLAlchemy engine beside the event store (views, member keys, web sessions).

Invariants: an in-memory SQLite URL gives one private database shared by every thread of the process (a
``StaticPool``); any other URL gets a bounded pool, :data:`POOL_SIZE` connections kept and at most
:data:`POOL_OVERFLOW_MAX` more, waiting at most :data:`POOL_TIMEOUT_S` for one — so a process holds at most
``POOL_SIZE + POOL_OVERFLOW_MAX`` connections per engine, as the library's own pool does for the events
(``POSTGRES_POOL_SIZE`` / ``POSTGRES_MAX_OVERFLOW`` in :meth:`eventstore.settings.StoreSettings.library_env`).
"""

from __future__ import annotations

from sqlalchemy import Engine, create_engine
from sqlalchemy.pool import StaticPool

POOL_SIZE = 4
POOL_OVERFLOW_MAX = 4
POOL_TIMEOUT_S = 30
MEMORY_URLS = ("sqlite://", "sqlite:///:memory:")


def open_engine(url: str) -> Engine:
    """The engine of ``url`` under the limits above."""
    if url in MEMORY_URLS:
        return create_engine("sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False})
    if url.startswith("sqlite"):
        return create_engine(url)  # SQLite files: a connection is a file handle, no server slot
    return create_engine(url, pool_size=POOL_SIZE, max_overflow=POOL_OVERFLOW_MAX, pool_timeout=POOL_TIMEOUT_S)

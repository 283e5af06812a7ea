"""Where each broker relay stands in the log: the table ``jamsos_relay_positions`` beside the read models.

The relay (``services/relay.py``) writes it — one row per relay name, the position moving forward only after the
broker confirmed a batch; anything may read it (``/readyz``, ``jamsos relay status``). Reading never creates it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Column, MetaData, String, Table, Text, inspect, select
from sqlalchemy.engine import Engine

from eventstore.store import LedgerStore
from projections.runner import views_engine

relay_tracking = MetaData()
relay_positions = Table(
    "jamsos_relay_positions",
    relay_tracking,
    Column("name", String(64), primary_key=True),
    Column("position", BigInteger, nullable=False, default=0),
    Column("published", BigInteger, nullable=False, default=0),
    Column("broker", String(300)),
    Column("updated_at", String(40)),
    Column("last_error", Text),
)


def relay_status(row: Any, head: int) -> dict[str, Any]:
    """One relay's row as a status: position, lag behind ``head`` (never negative), totals, last error."""
    return {"relay": row.name, "position": row.position, "head": head, "lag": max(head - row.position, 0),
            "published": row.published, "broker": row.broker, "updated_at": row.updated_at,
            "last_error": row.last_error}


def relay_statuses(store: LedgerStore, engine: Engine | None = None) -> list[dict[str, Any]]:
    """Every relay that ever ran against ``store``, by name (empty when none did: the table is not created)."""
    engine = engine or views_engine(store)
    if not inspect(engine).has_table(relay_positions.name):
        return []
    head = store.max_notification_id()
    with engine.connect() as conn:
        rows = conn.execute(select(relay_positions).order_by(relay_positions.c.name)).all()
    return [relay_status(row, head) for row in rows]

"""Example subscriber: a service that keeps its own read model — active members per region — from the event stream.

This is the template for a service author (a regional dashboard, a notification service for heirs):

- bind a durable queue (RabbitMQ) or a durable JetStream consumer (NATS) to ``jamsos.events``;
- parse each body as :class:`services.messages.EventMessage`;
- apply it and store the new position **in one transaction**; drop any message whose position is not above the
  stored one (a redelivery: the relay and the broker deliver at least once);
- acknowledge only after the commit; if applying fails, stop the process without acknowledging (exit code 70):
  the broker then redelivers from that message, so nothing is skipped and per-member order holds.

Invariants of :class:`ActiveMembers`: ``position`` only grows; each applied message was the next version of its
aggregate, otherwise it is counted in ``order_violations`` (expected 0); ``applied + duplicates`` = messages seen.
"""

from __future__ import annotations

import logging
import os
from typing import Annotated, Any

import orjson
from faststream import Context, StreamMessage
from sqlalchemy import (
    BigInteger,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Connection, Engine

from projections.event_messages import EventMessage
from services.transport import broker_url, kind_of, make_broker, names, rabbit_events_exchange

log = logging.getLogger("jamsos.subscriber")

DEFAULT_NAME = "jamsos-example-active-members"
"""Queue (RabbitMQ) / durable consumer (NATS) name of the example."""
PREFETCH_MAX = 1
"""Unacknowledged messages RabbitMQ may push ahead. aio-pika runs every delivery as its own task, so with more
than one in flight two handlers can interleave and apply out of order (then the later position would make the
earlier one look like a duplicate): one at a time keeps the order."""
ACK_WAIT_S = 5.0
"""NATS: how long JetStream waits for an ack before redelivering."""
EXIT_APPLY_FAILED = 70
ACTIVE_EVENTS = {"MemberEnrolled": True, "CoverageReinstated": True, "CoverageLapsed": False, "MemberDied": False}

metadata = MetaData()
state = Table(
    "example_position", metadata,
    Column("id", Integer, primary_key=True),
    Column("position", BigInteger, nullable=False),
    Column("applied", BigInteger, nullable=False),
    Column("duplicates", BigInteger, nullable=False),
    Column("order_violations", BigInteger, nullable=False),
)
streams = Table(
    "example_streams", metadata,
    Column("aggregate_id", String(36), primary_key=True),
    Column("version", Integer, nullable=False),
)
members = Table(
    "example_members", metadata,
    Column("member_id", String(36), primary_key=True),
    Column("region_code", String(16), nullable=False),
    Column("active", Integer, nullable=False),
)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class ActiveMembers:
    """The example's read model (see the module's invariants), in any SQLAlchemy database."""

    def __init__(self, url: str) -> None:
        self.engine: Engine = create_engine(url)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        metadata.create_all(self.engine)
        with self.engine.begin() as conn:
            if conn.execute(select(state.c.id)).first() is None:
                conn.execute(insert(state).values(id=1, position=0, applied=0, duplicates=0, order_violations=0))

    def apply(self, message: EventMessage) -> bool:
        """Apply one message; returns False when it was a duplicate (dropped by position)."""
        with self.engine.begin() as conn:
            position = conn.execute(select(state.c.position).where(state.c.id == 1)).scalar_one()
            if message.position <= position:
                conn.execute(update(state).where(state.c.id == 1).values(duplicates=state.c.duplicates + 1))
                return False
            in_order = self._track_version(conn, message)
            self._apply_member(conn, message)
            conn.execute(update(state).where(state.c.id == 1).values(
                position=message.position, applied=state.c.applied + 1,
                order_violations=state.c.order_violations + (0 if in_order else 1)))
        return True

    @staticmethod
    def _track_version(conn: Connection, message: EventMessage) -> bool:
        aggregate = str(message.aggregate_id)
        last = conn.execute(select(streams.c.version).where(streams.c.aggregate_id == aggregate)).scalar()
        if last is None:
            conn.execute(insert(streams).values(aggregate_id=aggregate, version=message.aggregate_version))
            return message.aggregate_version == 1
        conn.execute(update(streams).where(streams.c.aggregate_id == aggregate)
                     .values(version=message.aggregate_version))
        return bool(message.aggregate_version == last + 1)

    @staticmethod
    def _apply_member(conn: Connection, message: EventMessage) -> None:
        active = ACTIVE_EVENTS.get(message.type)
        if active is None:
            return
        member = str(message.aggregate_id)
        if message.type == "MemberEnrolled":
            region = str(message.payload["region_code"])
            if conn.execute(select(members.c.member_id).where(members.c.member_id == member)).first() is None:
                conn.execute(insert(members).values(member_id=member, region_code=region, active=1))
                return
            conn.execute(update(members).where(members.c.member_id == member).values(region_code=region, active=1))
            return
        conn.execute(update(members).where(members.c.member_id == member).values(active=int(active)))

    def active_per_region(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(members.c.region_code, func.sum(members.c.active))
                                .group_by(members.c.region_code)).all()
        return {str(r): int(n or 0) for r, n in rows}

    def status(self) -> dict[str, Any]:
        with self.engine.connect() as conn:
            row = conn.execute(select(state).where(state.c.id == 1)).one()
            versions = {a: int(v) for a, v in conn.execute(select(streams.c.aggregate_id, streams.c.version))}
        return {"position": int(row.position), "applied": int(row.applied), "duplicates": int(row.duplicates),
                "order_violations": int(row.order_violations), "aggregates": len(versions),
                "active_per_region": self.active_per_region(), "versions": versions}


def build_app(url: str | None = None, db_url: str | None = None, name: str | None = None) -> tuple[Any, Any]:
    """The example as a FastStream app over the broker at ``url`` (``JAMSOS_BROKER``); returns (app, broker).

    ``db_url`` (``JAMSOS_SUBSCRIBER_DB``, default ``sqlite:///example-subscriber.db``) holds the read model;
    ``name`` (``JAMSOS_SUBSCRIBER_NAME``) names the durable queue / consumer.
    """
    from faststream import FastStream

    url = broker_url(url)
    model = ActiveMembers(db_url or os.environ.get("JAMSOS_SUBSCRIBER_DB") or "sqlite:///example-subscriber.db")
    name = name or os.environ.get("JAMSOS_SUBSCRIBER_NAME") or DEFAULT_NAME
    broker = make_broker(url, log_level=logging.DEBUG)  # one log line per message only at DEBUG

    async def handle(raw: Annotated[StreamMessage[Any], Context("message")]) -> None:
        body = raw.body
        try:
            message = EventMessage.model_validate_json(body)
            model.apply(message)  # a short local transaction; one message in flight at a time (PREFETCH_MAX)
        except Exception:
            log.exception("example subscriber: cannot apply %s; stopping without ack (redelivered on restart)",
                          body[:200])
            os._exit(EXIT_APPLY_FAILED)

    register_example(broker, name, handle)
    app = FastStream(broker, logger=log)
    app.model = model  # type: ignore[attr-defined]
    return app, broker


def register_example(broker: Any, name: str, handler: Any) -> Any:
    """Subscribe ``handler`` to every event through the durable queue / consumer ``name`` (ack after it returns)."""
    from faststream import AckPolicy

    kind = kind_of(broker)
    title = f"{names().events}/{name}"
    description = "Every ledger event (EventMessage), for the example's active-members read model."
    if kind == "rabbit":
        from faststream.rabbit import Channel, RabbitQueue

        queue = RabbitQueue(name, durable=True, routing_key=f"{names().events}.#")
        return broker.subscriber(queue, exchange=rabbit_events_exchange(), channel=Channel(prefetch_count=PREFETCH_MAX),
                                 ack_policy=AckPolicy.ACK, title=title, description=description)(handler)
    if kind == "nats":
        from nats.js.api import ConsumerConfig, DeliverPolicy

        from services.transport import events_jstream

        return broker.subscriber(f"{names().events}.>", stream=events_jstream(), durable=name.replace(".", "-"),
                                 deliver_policy=DeliverPolicy.ALL,
                                 config=ConsumerConfig(max_ack_pending=1, ack_wait=ACK_WAIT_S),
                                 ack_policy=AckPolicy.ACK, title=title, description=description)(handler)
    raise NotImplementedError(f"the example subscriber runs on RabbitMQ and NATS, not {kind}")


def status_json(db_url: str) -> bytes:
    return orjson.dumps(ActiveMembers(db_url).status())


__all__ = ["ActiveMembers", "build_app"]

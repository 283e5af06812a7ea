"""Outbox relay: publish the ledger's notification log to a broker, in order, at least once.

Invariants:
- Events are read in position order from the relay's tracked position and published one batch at a time; the
  position moves (in its own table beside the views, ``jamsos_relay_positions``) only after the broker confirmed
  every message of the batch. A crash or a broker failure therefore repeats, never skips: delivery is
  at-least-once and a consumer drops a repeat by ``position``.
- Within a batch, publishes are pipelined on one connection in position order; a failure anywhere fails the
  batch, which is retried whole after a reconnect (backoff doubling from ``backoff_min_s`` to ``backoff_max_s``).
- All events of one aggregate travel one partition (routing key / subject / Kafka key), so per-member order
  holds for every consumer of a partition.
- Only pseudonymous ids leave the ledger: see :class:`services.messages.EventMessage`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import anyio
from sqlalchemy import insert, select, update
from sqlalchemy.engine import Engine

from eventstore.store import LedgerStore
from projections.event_feed import read_batch
from projections.event_messages import EventMessage
from projections.relay_positions import relay_positions, relay_status, relay_tracking
from projections.runner import views_engine
from services.transport import (
    PUBLISH_TIMEOUT_S,
    declare_event_route,
    kind_of,
    make_broker,
    publish_event,
)

log = logging.getLogger("jamsos.relay")

BATCH_SIZE_MAX = 500
"""Events read and published per batch (one position update per batch)."""
POLL_S = 0.5
BACKOFF_MIN_S = 0.5
BACKOFF_MAX_S = 10.0
CONNECT_TIMEOUT_S = 5.0
PIPELINED = frozenset({"rabbit", "nats"})
"""Brokers whose publishes of one batch may be in flight together: one connection, frames in order, the broker
stores them in arrival order. Others (a Redis connection pool, Kafka) publish one after the other."""

__all__ = ["Relay", "RelayGaveUp", "RelayPosition", "read_batch", "run_relay"]


class RelayPosition:
    """The relay's position in the log, one row per relay name. Only :meth:`advance` moves it, forward only."""

    def __init__(self, engine: Engine, name: str) -> None:
        self.engine = engine
        self.name = name
        relay_tracking.create_all(engine)
        with engine.begin() as conn:
            if conn.execute(select(relay_positions.c.name).where(relay_positions.c.name == name)).first() is None:
                conn.execute(insert(relay_positions).values(name=name, position=0, published=0))

    def row(self) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(select(relay_positions).where(relay_positions.c.name == self.name)).one()

    def get(self) -> int:
        return int(self.row().position)

    def advance(self, expected: int, position: int, published: int, broker: str) -> None:
        with self.engine.begin() as conn:
            moved = conn.execute(
                update(relay_positions)
                .where(relay_positions.c.name == self.name, relay_positions.c.position == expected)
                .values(position=position, published=relay_positions.c.published + published, broker=broker,
                        updated_at=_now(), last_error=None)
            ).rowcount
        if moved != 1:
            raise RuntimeError(f"relay {self.name}: another relay moved the position from {expected}")

    def record_error(self, error: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(relay_positions).where(relay_positions.c.name == self.name)
                         .values(last_error=error[:2000], updated_at=_now()))


@dataclass
class RelayStats:
    published: int = 0
    batches: int = 0
    reconnects: int = 0
    failures: list[str] = field(default_factory=list)


class Relay:
    """Publishes the log of ``store`` to the broker at ``url`` (see the module's invariants)."""

    def __init__(self, store: LedgerStore, url: str, name: str = "default", *,
                 batch_size_max: int = BATCH_SIZE_MAX, publish_timeout_s: float = PUBLISH_TIMEOUT_S,
                 backoff_min_s: float = BACKOFF_MIN_S, backoff_max_s: float = BACKOFF_MAX_S,
                 failures_max: int | None = None, engine: Engine | None = None) -> None:
        self.store = store
        self.url = url
        self.position = RelayPosition(engine or views_engine(store), name)
        self.batch_size_max = batch_size_max
        self.publish_timeout_s = publish_timeout_s
        self.backoff_min_s = backoff_min_s
        self.backoff_max_s = backoff_max_s
        self.failures_max = failures_max
        """Consecutive failures after which :meth:`run` gives up (``None``: never, e.g. when following)."""
        self.stats = RelayStats()
        self.broker: Any = None

    def status(self) -> dict[str, Any]:
        return relay_status(self.position.row(), self.store.max_notification_id())

    async def _connect(self) -> None:
        broker = make_broker(self.url, logger=None, graceful_timeout=1.0)
        try:
            await asyncio.wait_for(broker.start(), CONNECT_TIMEOUT_S)
            await declare_event_route(broker)
        except BaseException:
            await _quietly_stop(broker)
            raise
        self.broker = broker

    async def _disconnect(self) -> None:
        broker, self.broker = self.broker, None
        if broker is not None:
            await _quietly_stop(broker)

    async def publish_batch(self, batch: Sequence[EventMessage]) -> None:
        """Publish ``batch`` in order (pipelined where safe); return once all are confirmed, else raise."""
        bodies = [m.model_dump_json().encode() for m in batch]
        if kind_of(self.broker) not in PIPELINED:
            for body, message in zip(bodies, batch, strict=True):
                await publish_event(self.broker, body, message, self.publish_timeout_s)
            return
        tasks = [asyncio.ensure_future(publish_event(self.broker, b, m, self.publish_timeout_s))
                 for b, m in zip(bodies, batch, strict=True)]
        results = await asyncio.gather(*tasks, return_exceptions=True)
        failed = next((r for r in results if isinstance(r, BaseException)), None)
        if failed is not None:
            raise failed

    async def step(self) -> int:
        """Publish the next batch and advance the position; returns the number published (0 at the head)."""
        after = await anyio.to_thread.run_sync(self.position.get)
        batch = await anyio.to_thread.run_sync(lambda: read_batch(self.store, after, self.batch_size_max))
        if not batch:
            return 0
        await self.publish_batch(batch)
        await anyio.to_thread.run_sync(lambda: self.position.advance(after, batch[-1].position, len(batch),
                                                                     _safe(self.url)))
        self.stats.published += len(batch)
        self.stats.batches += 1
        return len(batch)

    async def run(self, follow: bool = False, poll_s: float = POLL_S,
                  stop: Callable[[], bool] = lambda: False) -> RelayStats:
        """Publish up to the head (and keep following with ``follow``), reconnecting with backoff on failure."""
        backoff_s = self.backoff_min_s
        failures = 0
        try:
            while not stop():
                try:
                    if self.broker is None:
                        await self._connect()
                    n = await self.step()
                    backoff_s = self.backoff_min_s
                    failures = 0
                    if n == 0:
                        if not follow:
                            return self.stats
                        await asyncio.sleep(poll_s)
                except (asyncio.CancelledError, KeyboardInterrupt):
                    raise
                except Exception as exc:
                    reason = f"{type(exc).__name__}: {exc}".strip()
                    log.warning("relay: %s; reconnecting in %.1fs", reason, backoff_s)
                    self.stats.failures.append(reason)
                    self.stats.reconnects += 1
                    failures += 1
                    await anyio.to_thread.run_sync(self.position.record_error, reason)
                    await self._disconnect()
                    if self.failures_max is not None and failures >= self.failures_max:
                        raise RelayGaveUp(reason, failures) from exc
                    await asyncio.sleep(backoff_s)
                    backoff_s = min(backoff_s * 2, self.backoff_max_s)
            return self.stats
        finally:
            await self._disconnect()


class RelayGaveUp(Exception):
    """The relay failed ``failures`` times in a row (without ``--follow``); its position did not move past
    the failing batch."""

    def __init__(self, reason: str, failures: int) -> None:
        super().__init__(f"gave up after {failures} consecutive failures: {reason}")
        self.reason = reason
        self.failures = failures


async def _quietly_stop(broker: Any) -> None:
    try:
        await asyncio.wait_for(broker.stop(), CONNECT_TIMEOUT_S)
    except Exception as exc:  # a dead connection may fail to close; it is dropped either way
        log.debug("relay: closing the broker failed: %s", exc)


def _safe(url: str) -> str:
    from services.transport import BrokerTarget

    return BrokerTarget.parse(url).safe_url


def _now() -> str:
    return datetime.now(UTC).isoformat()


def run_relay(store: LedgerStore, url: str, name: str = "default", follow: bool = False,
              stop: Callable[[], bool] = lambda: False, **options: Any) -> dict[str, Any]:
    """Synchronous entry (CLI): run the relay, return its stats and status."""
    relay = Relay(store, url, name, **options)
    started = time.perf_counter()
    stats = asyncio.run(relay.run(follow=follow, stop=stop))
    return {"published": stats.published, "batches": stats.batches, "reconnects": stats.reconnects,
            "seconds": round(time.perf_counter() - started, 3), "status": relay.status()}

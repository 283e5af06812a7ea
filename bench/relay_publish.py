"""Relay benchmark: the outbox relay against a bare FastStream publisher loop of the same messages, same run.

1. build a SQLite log of at least ``--events`` events (bulk commands, untimed), and the exact bodies the relay sends
   (``services.relay.read_batch`` + ``model_dump_json``);
2. bind one durable queue (RabbitMQ) / the JetStream stream (NATS) of a fresh namespace, so messages are routed
   and stored as in production;
3. time, in that order: the **bare loop** (``await broker.publish(...)`` per message, publisher confirms /
   JetStream acks, the same destination, headers and persistence as the relay), the **bare pipelined** publisher
   (the same calls, ``asyncio.gather`` over windows of ``--batch-size``: what the relay does on the wire), and the
   **relay** (``Relay.run()`` from position 0: reading the log, building and serialising each message, publishing,
   committing its position per batch);
4. print messages/s and ``ratio = relay / bare loop`` (target >= 0.5) and ``relay / bare pipelined``.

Run on demand (this is not a test)::

    python -m bench.relay_publish --events 20000 --broker amqp://guest:guest@127.0.0.1:5672/ [--json]
    python -m bench.relay_publish --events 20000 --broker nats://127.0.0.1:4222
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.rebuild import build_log
from eventstore.bootstrap import bootstrap
from eventstore.clock import WIB, SimulatedClock
from projections.event_messages import EventMessage
from services.relay import Relay, read_batch
from services.transport import declare_event_route, kind_of, make_broker, names, publish_event


def log(text: str) -> None:
    sys.stderr.write(text + "\n")


async def bind_queue(url: str) -> None:
    """RabbitMQ: one durable queue bound to every event, so messages are routed and persisted."""
    broker = make_broker(url, logger=None)
    await broker.connect()
    await declare_event_route(broker)
    if kind_of(broker) == "rabbit":
        from faststream.rabbit import RabbitQueue

        queue = await broker.declare_queue(RabbitQueue(f"{names().namespace}.bench", durable=True))
        await queue.bind(exchange=names().events, routing_key=f"{names().events}.#")
    await broker.stop()


async def drop(url: str) -> None:
    broker = make_broker(url, logger=None)
    await broker.connect()
    try:
        if kind_of(broker) == "nats":
            await broker.config.connection_state.stream.delete_stream(names().events_stream)
    except Exception as exc:  # cleanup only
        log(f"cleanup: {exc}")
    finally:
        await broker.stop()
    if url.startswith("amqp"):
        import aio_pika

        connection = await aio_pika.connect(url)
        async with connection:
            channel = await connection.channel()
            await channel.queue_delete(f"{names().namespace}.bench")
            await channel.exchange_delete(names().events)


async def bare(url: str, bodies: list[tuple[bytes, EventMessage]], window: int) -> tuple[float, float]:
    """(bare loop seconds, bare pipelined seconds) for the same messages."""
    broker = make_broker(url, logger=None)
    await broker.start()
    try:
        started = time.perf_counter()
        for body, message in bodies:
            await publish_event(broker, body, message)
        loop_s = time.perf_counter() - started
        started = time.perf_counter()
        for i in range(0, len(bodies), window):
            await asyncio.gather(*[publish_event(broker, b, m) for b, m in bodies[i:i + window]])
        pipelined_s = time.perf_counter() - started
    finally:
        await broker.stop()
    return loop_s, pipelined_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--broker", default="amqp://guest:guest@127.0.0.1:5672/")
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    os.environ["JAMSOS_BROKER_NAMESPACE"] = f"bench-{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["JAMSOS_KEY_FILE"] = str(Path(tmp) / "bench.key")
        clock = SimulatedClock(datetime(2021, 1, 2, 8, tzinfo=WIB))
        ledger = bootstrap(f"sqlite:///{Path(tmp) / 'bench.db'}", clock=clock)
        build_log(ledger, clock, args.events, max(1, args.events // 4))
        messages = read_batch(ledger.store, 0, 10**9)
        bodies = [(m.model_dump_json().encode(), m) for m in messages]
        log(f"log: {len(bodies):,} events; broker {args.broker}")
        asyncio.run(bind_queue(args.broker))
        try:
            loop_s, pipelined_s = asyncio.run(bare(args.broker, bodies, args.batch_size))
            relay = Relay(ledger.store, args.broker, "bench", batch_size_max=args.batch_size)
            started = time.perf_counter()
            stats = asyncio.run(relay.run())
            relay_s = time.perf_counter() - started
            assert stats.published == len(bodies), stats
        finally:
            asyncio.run(drop(args.broker))
            ledger.close()
    n = len(bodies)
    result: dict[str, Any] = {
        "broker": args.broker.split("@")[-1], "events": n, "batch_size": args.batch_size,
        "bare_loop_msgs_per_s": round(n / loop_s), "bare_pipelined_msgs_per_s": round(n / pipelined_s),
        "relay_msgs_per_s": round(n / relay_s),
        "ratio_vs_bare_loop": round(loop_s / relay_s, 2), "ratio_vs_bare_pipelined": round(pipelined_s / relay_s, 2),
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for key, value in result.items():
            print(f"{key:28} {value}")


if __name__ == "__main__":
    main()

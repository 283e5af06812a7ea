"""Helpers for the broker tests: the real RabbitMQ and NATS, their interruption, and a log of N events.

Like PostgreSQL (``conftest.require_postgres``), a missing broker **fails** the test under CI (``CI`` set) or with
``JAMSOS_REQUIRE_SERVICES=1``; elsewhere it is skipped with the reason.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from eventstore.bootstrap import Ledger, bootstrap
from eventstore.clock import WIB, SimulatedClock
from tests.conftest import SERVICES_REQUIRED

AMQP_URL = os.environ.get("JAMSOS_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
NATS_URL = os.environ.get("JAMSOS_TEST_NATS_URL", "nats://127.0.0.1:4222")
JAMSOS = str(Path(sys.executable).with_name("jamsos"))
NATS_START = ["start-stop-daemon", "--start", "--oknodo", "--background", "--exec", "/usr/sbin/nats-server", "--",
              "-a", "127.0.0.1", "-p", "4222", "-js", "-sd", "/var/lib/nats-server", "-l", "/var/log/nats-server.log"]


def reachable(url: str, timeout_s: float = 2.0) -> str | None:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 5672), timeout=timeout_s):
            return None
    except OSError as exc:
        return str(exc) or type(exc).__name__


def require_broker(url: str) -> None:
    problem = reachable(url)
    if problem is None:
        return
    message = f"broker not reachable at {url}: {problem}"
    if SERVICES_REQUIRED:
        pytest.fail(message + " (services are required here: CI or JAMSOS_REQUIRE_SERVICES=1)")
    pytest.skip(message)


def wait_until(check: Callable[[], bool], timeout_s: float, what: str, poll_s: float = 0.2) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(poll_s)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", *args], check=True, capture_output=True, timeout=60)


@contextlib.contextmanager
def rabbit_stopped() -> Iterator[None]:
    """Stop the RabbitMQ application (the node stays up); always started again."""
    rabbitmqctl("stop_app")
    try:
        yield
    finally:
        rabbitmqctl("start_app")
        wait_until(lambda: reachable(AMQP_URL) is None, 60, "RabbitMQ back")


def nats_pid() -> int | None:
    out = subprocess.run(["pgrep", "-x", "nats-server"], capture_output=True, text=True).stdout.split()
    return int(out[0]) if out else None


@contextlib.contextmanager
def nats_stopped() -> Iterator[None]:
    """Stop the NATS server process (by its pid) and start it again with the development machines' command."""
    pid = nats_pid()
    assert pid is not None, "nats-server is not running"
    os.kill(pid, signal.SIGTERM)
    try:
        wait_until(lambda: nats_pid() is None, 20, "nats-server stopped")
        yield
    finally:
        subprocess.run(NATS_START, check=True, capture_output=True, timeout=30)
        wait_until(lambda: reachable(NATS_URL) is None, 30, "NATS back")


def build_events(path: Path, events: int, members: int) -> Ledger:
    """A SQLite store at ``path`` holding at least ``events`` events (one agreement, a cohort, monthly payments)."""
    from bench.rebuild import build_log

    clock = SimulatedClock(datetime(2021, 1, 2, 8, tzinfo=WIB))
    ledger = bootstrap(f"sqlite:///{path}", clock=clock)
    build_log(ledger, clock, events, members)
    return ledger


def store_versions(ledger: Ledger) -> tuple[int, dict[str, int]]:
    """(number of events, last version per aggregate) read straight from the store."""
    versions: dict[str, int] = {}
    count = 0
    after = 0
    while True:
        batch = ledger.store.select_notifications(after + 1, 5000)
        if not batch:
            return count, versions
        for n in batch:
            count += 1
            versions[str(n.originator_id)] = max(versions.get(str(n.originator_id), 0), n.originator_version)
        after = batch[-1].id


def relay_position(views_db: Path, name: str) -> int:
    if not views_db.exists():
        return 0
    try:
        with contextlib.closing(sqlite3.connect(views_db, timeout=10)) as conn:
            row = conn.execute("SELECT position FROM jamsos_relay_positions WHERE name = ?", (name,)).fetchone()
    except sqlite3.OperationalError:  # not created yet
        return 0
    return int(row[0]) if row else 0


def subscriber_position(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with contextlib.closing(sqlite3.connect(db, timeout=10)) as conn:
            row = conn.execute("SELECT position FROM example_position WHERE id = 1").fetchone()
    except sqlite3.OperationalError:
        return 0
    return int(row[0]) if row else 0


def spawn(args: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[Any]:
    """Start a ``jamsos`` process in its own process group (so a test can kill exactly it)."""
    handle = log.open("ab")
    return subprocess.Popen([JAMSOS, *args], stdout=handle, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})},
                            start_new_session=True)


def stop(process: subprocess.Popen[Any], sig: int = signal.SIGTERM) -> None:
    if process.poll() is None:
        os.killpg(process.pid, sig)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def drop_rabbit_namespace(url: str, namespace: str, queues: tuple[str, ...] = ()) -> None:
    """Delete a test namespace's exchange and queues from RabbitMQ."""
    import asyncio

    import aio_pika

    async def drop() -> None:
        connection = await aio_pika.connect(url)
        async with connection:
            for queue in (f"{namespace}.commands", f"{namespace}.commands.dead", f"{namespace}.events.archive",
                          *queues):
                channel = await connection.channel()
                with contextlib.suppress(Exception):
                    await channel.queue_delete(queue)
            channel = await connection.channel()
            with contextlib.suppress(Exception):
                await channel.exchange_delete(f"{namespace}.events")

    asyncio.run(drop())


def drop_nats_namespace(url: str, namespace: str) -> None:
    """Delete a test namespace's JetStream streams."""
    import asyncio

    import nats

    from services.transport import Names

    async def drop() -> None:
        client = await nats.connect(url)
        try:
            js = client.jetstream()
            for stream in (Names(namespace).events_stream, Names(namespace).commands_stream):
                with contextlib.suppress(Exception):
                    await js.delete_stream(stream)
        finally:
            await client.close()

    asyncio.run(drop())


def started(log: Path) -> bool:
    """A FastStream service started (its log says so)."""
    return log.exists() and b"started successfully" in log.read_bytes()

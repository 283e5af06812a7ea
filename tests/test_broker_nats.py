"""Against the real NATS JetStream: the relay publishes through a server restart; the example subscriber (a durable
JetStream consumer) ends with every event, in per-member order, duplicates dropped by position."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.broker_support import (
    NATS_URL,
    build_events,
    drop_nats_namespace,
    nats_stopped,
    relay_position,
    require_broker,
    spawn,
    started,
    stop,
    store_versions,
    subscriber_position,
    wait_until,
)

pytestmark = [pytest.mark.broker, pytest.mark.slow, pytest.mark.xdist_group("brokers")]  # they restart the servers

EVENTS = 10_000


@pytest.fixture
def nats_url(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The real NATS server, with a namespace (JetStream streams) of this test's own, deleted after."""
    require_broker(NATS_URL)
    namespace = f"test-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("JAMSOS_BROKER_NAMESPACE", namespace)
    yield NATS_URL
    drop_nats_namespace(NATS_URL, namespace)


def test_10k_events_through_a_nats_restart(nats_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The NATS server is stopped and started mid-stream: the relay backs off and resumes from its confirmed
    position, and the subscriber ends with all events once each, in per-member order, with no gap."""
    monkeypatch.setenv("JAMSOS_KEY_FILE", str(tmp_path / "k.key"))
    store = tmp_path / "ledger.db"
    ledger = build_events(store, EVENTS, members=2_500)
    total, versions = store_versions(ledger)
    head = ledger.store.max_notification_id()
    ledger.close()

    relay_name = f"test-{uuid.uuid4().hex[:8]}"
    db = tmp_path / "example.db"
    env = {"JAMSOS_STORE": str(store)}
    sub_args = ["subscriber", "run", "--broker", nats_url, "--db", f"sqlite:///{db}", "--name", "example"]
    relay_args = ["relay", "run", "--follow", "--broker", nats_url, "--name", relay_name, "--batch-size", "200"]
    views = tmp_path / "ledger.views.db"
    subscriber = spawn(sub_args, tmp_path / "subscriber.log", env)
    relay = None
    try:
        wait_until(lambda: started(tmp_path / "subscriber.log"), 30, "the subscriber's durable consumer")
        relay = spawn(relay_args, tmp_path / "relay.log", env)
        wait_until(lambda: views.exists() and relay_position(views, relay_name) >= 1_000, 60, "relay at 1,000",
                   poll_s=0.05)
        with nats_stopped():  # the server goes away mid-stream, for relay and subscriber alike
            time.sleep(2)
        assert relay_position(views, relay_name) < head, "the outage came too late to test anything"
        wait_until(lambda: relay_position(views, relay_name) == head, 120, "relay at the head")
        wait_until(lambda: subscriber_position(db) == head, 180, "subscriber at the head")
    finally:
        stop(subscriber)
        if relay is not None:
            stop(relay)

    from services.subscriber_example import ActiveMembers

    status = ActiveMembers(f"sqlite:///{db}").status()
    # (the NATS client reconnects by itself and a JetStream publish waits for its ack, or times out and the relay
    # backs off and republishes: either way the position moved only after acks)
    assert status["applied"] == total
    assert status["order_violations"] == 0
    assert status["versions"] == versions
    assert status["active_per_region"] == {"61.72": 2_500}
    print(f"relayed {total} events over NATS; subscriber dropped {status['duplicates']} redeliveries by position")


def test_commands_and_dead_letters_over_nats(nats_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same consumer on NATS JetStream: a command is executed and answered, a retry is replayed, a bad message is
    answered with its field and stored in the commands stream's dead-letter subject."""
    import asyncio
    import json

    from eventstore.bootstrap import bootstrap
    from ledger.values import Role
    from services.command_consumer import build_consumer
    from services.transport import declare_command_routes, names
    from tests.conftest import grant
    from tests.test_broker_unit import sign

    monkeypatch.setenv("JAMSOS_KEY_FILE", str(tmp_path / "k.key"))
    ledger = bootstrap(f"sqlite:///{tmp_path / 'bus.db'}")
    auth = {"authorization": f"Bearer {grant(ledger, 'bus', Role.BUDGET_OWNER)}"}
    replies: list[dict[str, object]] = []
    dead: list[dict[str, object]] = []

    async def scenario() -> None:
        _app, broker = build_consumer(ledger, nats_url)
        async with broker:
            await broker.connect()
            await declare_command_routes(broker)
            await broker.start()
            for body in (json.dumps(sign()).encode(), json.dumps(sign()).encode(), b"{oops"):
                response = await broker.request(body, names().commands, timeout=30, headers=auth)
                replies.append(json.loads(response.body))
            js = broker.config.connection_state.stream
            subscription = await js.pull_subscribe(names().dead_letters, stream=names().commands_stream)
            for message in await subscription.fetch(1, timeout=10):
                dead.append(json.loads(message.data))
                await message.ack()

    try:
        asyncio.run(scenario())
    finally:
        ledger.close()
    assert [r.get("ok") for r in replies] == [True, True, False], replies
    assert replies[1]["replayed"] is True
    assert len(dead) == 1 and dead[0]["error"]["field"] == "body"  # type: ignore[index]


def test_every_command_kind_over_nats_runs_only_for_the_right_token(
    nats_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The authorisation matrix (tests/auth_matrix.py) through real NATS: only the right sender reaches a handler."""
    import asyncio
    import json
    from datetime import datetime

    from eventstore.bootstrap import bootstrap
    from eventstore.clock import SimulatedClock
    from services.command_consumer import build_consumer
    from services.transport import declare_command_routes, names
    from tests import auth_matrix

    monkeypatch.setenv("JAMSOS_KEY_FILE", str(tmp_path / "k.key"))
    clock = SimulatedClock(datetime.fromisoformat("2026-01-05T09:00:00+07:00"))
    ledger = bootstrap(f"sqlite:///{tmp_path / 'matrix.db'}", clock=clock)
    matrix = auth_matrix.prepare(ledger)

    async def scenario() -> int:
        _app, broker = build_consumer(ledger, nats_url)
        sent = 0
        async with broker:
            await broker.connect()
            await declare_command_routes(broker)
            await broker.start()
            for kind in auth_matrix.order(list(matrix.bodies)):
                body = json.dumps(matrix.bodies[kind]).encode()
                for variant in auth_matrix.VARIANTS:
                    before = ledger.store.max_notification_id()
                    response = await broker.request(body, names().commands, timeout=30,
                                                    headers=matrix.headers(kind, variant))
                    auth_matrix.check_reply(json.loads(response.body), variant, kind)
                    sent += 1
                    if variant != "right":
                        assert ledger.store.max_notification_id() == before, f"{kind} by {variant} wrote events"
        return sent

    try:
        assert asyncio.run(scenario()) == 6 * len(matrix.bodies)
    finally:
        ledger.close()

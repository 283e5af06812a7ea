"""Against the real RabbitMQ: the relay under interruption, the example subscriber crashing, commands over the broker.

These are the acceptance tests of issue 5. They start real ``jamsos`` processes, stop and start the RabbitMQ
application mid-stream (``rabbitmqctl stop_app`` / ``start_app``, always restored) and ``SIGKILL`` the subscriber.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from commands.authorise import local_actor, new_token
from commands.messages import AddPrincipal
from ledger.values import Role
from tests.broker_support import (
    AMQP_URL,
    build_events,
    drop_rabbit_namespace,
    rabbit_stopped,
    rabbitmqctl,
    relay_position,
    require_broker,
    spawn,
    started,
    stop,
    store_versions,
    subscriber_position,
    wait_until,
)
from tests.conftest import execute, grant

pytestmark = [pytest.mark.broker, pytest.mark.slow, pytest.mark.xdist_group("brokers")]  # they restart the servers

EVENTS = 10_000


@pytest.fixture
def rabbit(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The real RabbitMQ, with a namespace of this test's own (its own exchange and queues, deleted after)."""
    require_broker(AMQP_URL)
    namespace = f"test-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("JAMSOS_BROKER_NAMESPACE", namespace)
    yield AMQP_URL
    drop_rabbit_namespace(AMQP_URL, namespace)


def test_10k_events_survive_a_broker_outage_and_a_subscriber_crash(
    rabbit: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every event reaches the example subscriber once, in per-member order, although RabbitMQ stops mid-stream
    and the subscriber is SIGKILLed mid-batch; repeats are only redeliveries it dropped by position."""
    monkeypatch.setenv("JAMSOS_KEY_FILE", str(tmp_path / "k.key"))
    store = tmp_path / "ledger.db"
    ledger = build_events(store, EVENTS, members=2_500)
    total, versions = store_versions(ledger)
    head = ledger.store.max_notification_id()
    ledger.close()
    assert total >= EVENTS

    queue = f"test-example-{uuid.uuid4().hex[:8]}"
    relay_name = f"test-{uuid.uuid4().hex[:8]}"
    db = tmp_path / "example.db"
    sub_args = ["subscriber", "run", "--broker", rabbit, "--db", f"sqlite:///{db}", "--name", queue]
    env = {"JAMSOS_STORE": str(store)}
    subscriber = spawn(sub_args, tmp_path / "subscriber.log", env)
    relay = None
    try:
        wait_until(lambda: started(tmp_path / "subscriber.log"), 30, "the subscriber to bind its queue")
        relay = spawn(["relay", "run", "--follow", "--broker", rabbit, "--name", relay_name, "--batch-size", "200"],
                      tmp_path / "relay.log", env)
        views = tmp_path / "ledger.views.db"
        wait_until(lambda: views.exists() and relay_position(views, relay_name) >= 2_000, 60, "relay at 2,000")
        with rabbit_stopped():  # the broker goes away mid-stream
            pass
        wait_until(lambda: subscriber_position(db) >= 3_000, 120, "subscriber at 3,000")
        stop(subscriber, signal.SIGKILL)  # the consumer crashes mid-batch
        subscriber = spawn(sub_args, tmp_path / "subscriber.log", env)
        wait_until(lambda: relay_position(views, relay_name) == head, 120, "relay at the head")
        wait_until(lambda: subscriber_position(db) == head, 180, "subscriber at the head")
    finally:
        stop(subscriber)
        if relay is not None:
            stop(relay)
        subprocess.run(["rabbitmqctl", "delete_queue", queue], capture_output=True, timeout=60)

    from services.subscriber_example import ActiveMembers

    status = ActiveMembers(f"sqlite:///{db}").status()
    relay_log = (tmp_path / "relay.log").read_text()
    assert "reconnecting" in relay_log, "the relay never saw the broker go away"
    assert status["applied"] == total, "every event applied exactly once"
    assert status["order_violations"] == 0, "each applied event was the next version of its aggregate"
    assert status["versions"] == versions, "no gap: every aggregate at its last version"
    assert status["active_per_region"] == {"61.72": 2_500}
    print(f"relayed {total} events; subscriber dropped {status['duplicates']} redeliveries by position")


def test_relay_started_while_the_broker_is_down_waits_and_delivers(
    rabbit: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A relay that starts with RabbitMQ down backs off, connects when it returns, and publishes everything."""
    import threading

    from services.relay import Relay
    from services.transport import make_broker, names, rabbit_events_exchange

    monkeypatch.setenv("JAMSOS_KEY_FILE", str(tmp_path / "k.key"))
    ledger = build_events(tmp_path / "ledger.db", 300, members=100)
    head = ledger.store.max_notification_id()
    queue = f"test-down-{uuid.uuid4().hex[:8]}"

    async def bind_queue() -> None:
        from faststream.rabbit import RabbitQueue

        broker = make_broker(rabbit)
        await broker.connect()
        await broker.declare_exchange(rabbit_events_exchange())
        q = await broker.declare_queue(RabbitQueue(queue, durable=True))
        await q.bind(exchange=names().events, routing_key=f"{names().events}.#")
        await broker.stop()

    asyncio.run(bind_queue())
    relay = Relay(ledger.store, rabbit, f"test-{queue}", backoff_min_s=0.2, backoff_max_s=1.0)
    try:
        with rabbit_stopped():
            outcome: dict[str, Any] = {}
            thread = threading.Thread(target=lambda: outcome.update(stats=asyncio.run(relay.run())))
            thread.start()
            wait_until(lambda: relay.status()["last_error"] is not None, 30, "the relay to fail to connect")
            assert relay.status()["position"] == 0
        thread.join(timeout=120)
        assert not thread.is_alive()
        assert relay.status()["position"] == head
        assert outcome["stats"].reconnects >= 1
        out = subprocess.run(["rabbitmqctl", "list_queues", "name", "messages", "--no-table-headers", "--quiet"],
                             capture_output=True, text=True, timeout=60).stdout
        counts = dict(line.split("\t") for line in out.strip().splitlines() if "\t" in line)
        assert int(counts[queue]) >= head  # at least once (a batch cut by the outage may be there twice)
    finally:
        ledger.close()
        rabbitmqctl("delete_queue", queue)


# --- commands over the broker -------------------------------------------------------------------------------

CLOCK = "2026-01-05T09:00:00+07:00"


async def drained(queue: Any, messages_max: int) -> list[dict[str, Any]]:
    """Every message waiting in ``queue`` (up to ``messages_max``), taken off it, as JSON."""
    out = []
    for _ in range(messages_max):
        message = await queue.get(no_ack=True, fail=False)
        if message is None:
            break
        out.append(json.loads(message.body))
    return out


def command_script(run: str) -> list[dict[str, Any]]:
    """A small scenario as command messages (the same as the CLI calls in ``cli_equivalents``)."""
    from cli.seed_demo import synthetic_nik

    nik = synthetic_nik("6172", 1)
    nik2 = synthetic_nik("6172", 2)
    return [
        {"kind": "agreement.sign", "command_id": f"{run}-sign", "effective_on": "2026-01-05",
         "agreement_id": "PKS-BUS", "name": "Bus test", "payer_id": "PEMKOT-SKW", "payer_type": "APBD_KOTA",
         "fund_source": "APBD", "region_code": "61.72", "first_period": "2026-01", "last_period": "2026-12",
         "budget_rp": 100_000_000},
        {"kind": "member.enrol", "command_id": f"{run}-enrol1", "effective_on": "2026-01-05",
         "nik": nik, "name": "Siti Test", "agreement_id": "PKS-BUS", "region_code": "61.72", "role": "PETANI"},
        {"kind": "member.enrol", "command_id": f"{run}-enrol2", "effective_on": "2026-01-05",
         "nik": nik2, "name": "Budi Test", "agreement_id": "PKS-BUS", "region_code": "61.72", "role": "NELAYAN"},
        {"kind": "contribution.pay", "command_id": f"{run}-pay1", "effective_on": "2026-01-05",
         "nik": nik, "periods": ["2026-01"], "amount_rp": 16_800, "payment_reference": "SP2D-BUS-1"},
    ]


def cli_args(message: dict[str, Any], store: Path) -> list[str]:
    common = ["--store", str(store), "--command-id", message["command_id"], "--on", message["effective_on"], "--json"]
    kind = message["kind"]
    if kind == "agreement.sign":
        return ["agreement", "sign", "--id", message["agreement_id"], "--name", message["name"], "--payer-id",
                message["payer_id"], "--payer-type", message["payer_type"], "--fund-source", message["fund_source"],
                "--region", message["region_code"], "--first-period", message["first_period"],
                "--last-period", message["last_period"], "--budget", str(message["budget_rp"]), *common]
    if kind == "member.enrol":
        return ["member", "enrol", "--nik", message["nik"], "--name", message["name"], "--agreement",
                message["agreement_id"], "--region", message["region_code"], "--role", message["role"], *common]
    return ["contribution", "pay", "--nik", message["nik"], "--periods", message["periods"][0], "--amount",
            str(message["amount_rp"]), "--reference", message["payment_reference"], *common]


def comparable_log(store: Path) -> list[tuple[str, int, dict[str, Any]]]:
    """(type, version, state) of every event, without the library's wall-clock timestamp, sub-second recorded
    times (``JAMSOS_CLOCK`` is frozen to the second), and the sealed
    ciphertext (random nonces and per-member keys: equal plaintext, different bytes)."""
    from eventstore.bootstrap import bootstrap

    ledger = bootstrap(f"sqlite:///{store}", create=False)
    try:
        out = []
        for n in ledger.store.select_notifications(1, 10_000):
            data = json.loads(ledger.store.mapper.plain_state(n.state))
            data.pop("timestamp")
            data.pop("token_sha256", None)  # each store's principal has its own random token
            if data.get("command_type") == "principal.add":
                data.pop("payload_digest")  # ... which is in the payload of the command that added it
            data["recorded_at"] = data["recorded_at"][:19]  # the frozen clock ticks a microsecond per reading
            for sealed in ("personal", "sealed_details"):
                if data.get(sealed) is not None:
                    data[sealed] = "<sealed>"
            out.append((f"{n.topic}@{n.originator_id}", n.originator_version, data))
        return out
    finally:
        ledger.close()


def test_commands_over_rabbitmq_write_the_same_events_as_the_cli(
    rabbit: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same commands through ``jamsos`` and through RabbitMQ give the same log; a retried command id over the
    broker gets the original reply (replayed) and writes nothing."""
    from eventstore.bootstrap import bootstrap
    from services.command_consumer import build_consumer
    from services.transport import names
    from tests.broker_support import JAMSOS

    monkeypatch.setenv("JAMSOS_KEY_FILE", str(tmp_path / "shared.key"))  # same pepper: same member ids
    monkeypatch.setenv("JAMSOS_CLOCK", CLOCK)
    run = uuid.uuid4().hex[:8]
    script = command_script(run)

    cli_store = tmp_path / "cli.db"
    subprocess.run([JAMSOS, "init", "--store", str(cli_store)], check=True, capture_output=True)
    added = subprocess.run([JAMSOS, "principal", "add", "bus", "--role", "operator", "--role", "budget-owner",
                            "--store", str(cli_store), "--command-id", "grant-bus", "--json"],
                           capture_output=True, text=True, check=True)
    cli_token = json.loads(added.stdout)["token"]
    cli_results = []
    for message in script:
        done = subprocess.run([JAMSOS, "--token", cli_token, *cli_args(message, cli_store)], capture_output=True,
                              text=True)
        assert done.returncode == 0, done.stderr
        cli_results.append(json.loads(done.stdout))

    bus_store = tmp_path / "bus.db"
    ledger = bootstrap(f"sqlite:///{bus_store}")
    token, digest = new_token("bus")
    execute(ledger, AddPrincipal(command_id="grant-bus", name="bus", roles=[Role.OPERATOR, Role.BUDGET_OWNER],
                                 token_sha256=digest), local_actor())
    auth = {"authorization": f"Bearer {token}"}
    replies: list[dict[str, Any]] = []

    async def scenario() -> None:
        _app, broker = build_consumer(ledger, rabbit)

        async with broker:
            await broker.start()
            from services.transport import declare_command_routes

            await declare_command_routes(broker)
            for message in [*script, script[1]]:  # the last one retries enrol1 with the same id and payload
                response = await broker.request(json.dumps(message).encode(), queue=names().commands, timeout=30,
                                                headers=auth)
                replies.append(json.loads(response.body))

    try:
        asyncio.run(scenario())
    finally:
        ledger.close()

    assert [r["ok"] for r in replies] == [True] * 5, replies
    assert [r["result"] for r in replies[:4]] == cli_results
    assert replies[4]["replayed"] is True and replies[4]["result"] == replies[1]["result"]
    assert comparable_log(bus_store) == comparable_log(cli_store)
    assert len(comparable_log(bus_store)) >= 8


def test_bad_command_messages_land_in_the_dead_letter_queue_and_the_consumer_keeps_running(
    rabbit: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Wrong schema, unknown type, missing command id, not JSON, a business rule: each is answered with its
    field and reason, stored as a dead letter with the reason and the original body; nothing is written; a good
    command afterwards still runs."""
    from eventstore.bootstrap import bootstrap
    from services.command_consumer import build_consumer
    from services.transport import declare_command_routes, names

    monkeypatch.setenv("JAMSOS_KEY_FILE", str(tmp_path / "k.key"))
    monkeypatch.setenv("JAMSOS_CLOCK", CLOCK)
    run = uuid.uuid4().hex[:8]
    sign, _, _, pay = command_script(run)
    bad: list[tuple[bytes, str, str]] = [
        (json.dumps({**sign, "budget_rp": "lots", "command_id": f"{run}-b1"}).encode(), "budget_rp", "invalid_input"),
        (json.dumps({**sign, "kind": "agreement.burn", "command_id": f"{run}-b2"}).encode(), "kind", "invalid_input"),
        (json.dumps({k: v for k, v in sign.items() if k != "command_id"}).encode(), "command_id", "invalid_input"),
        (b"{not json", "body", "invalid_input"),
        (b"\xff\xfe binary", "body", "invalid_input"),
        (json.dumps({**pay, "command_id": f"{run}-b6"}).encode(), "nik", "not_found"),  # member not enrolled
        (json.dumps({**sign, "command_id": f"{run}-b7", "last_period": "2025-01"}).encode(), "last_period",
         "invalid_input"),
        (json.dumps({**sign, "command_id": f"{run}-b8"}).encode(), "agreement_id", "rule_violation"),  # signed twice
        (json.dumps({**sign, "budget_rp": 5}).encode(), "command_id", "idempotency_conflict"),  # id reused
    ]
    ledger = bootstrap(f"sqlite:///{tmp_path / 'bus.db'}")
    auth = {"authorization": f"Bearer {grant(ledger, 'bus', Role.OPERATOR, Role.BUDGET_OWNER)}"}
    granted = ledger.store.max_notification_id()
    replies: list[dict[str, Any]] = []
    dead: list[dict[str, Any]] = []

    async def scenario() -> None:
        from faststream.rabbit import RabbitQueue

        _app, broker = build_consumer(ledger, rabbit)
        async with broker:
            await broker.start()
            await declare_command_routes(broker)
            dlq = await broker.declare_queue(RabbitQueue(names().dead_letters, durable=True))
            await dlq.purge()
            for body in [body for body, _f, _c in bad[:-2]] + [json.dumps(sign).encode()]:
                response = await broker.request(body, queue=names().commands, timeout=30, headers=auth)
                replies.append(json.loads(response.body))
                if len(replies) == len(bad) - 2:
                    assert ledger.store.max_notification_id() == granted, "a refused command wrote nothing"
            for body, _f, _c in bad[-2:]:  # business rules need the signed agreement
                response = await broker.request(body, queue=names().commands, timeout=30, headers=auth)
                replies.append(json.loads(response.body))
            dead.extend(await drained(dlq, 50))

    try:
        asyncio.run(scenario())
    finally:
        ledger.close()

    ok = replies.pop(len(bad) - 2)
    assert ok["ok"] is True, ok
    assert [r["ok"] for r in replies] == [False] * len(bad), replies
    for reply, (_body, field, code) in zip(replies, bad, strict=True):
        assert reply["error"]["code"] == code, reply
        if field:
            assert reply["error"]["field"] == field, reply
    assert len(dead) == len(bad)
    for letter, reply, (body, _field, _code) in zip(dead, replies, bad, strict=True):
        assert letter["body_bytes"] == len(body)  # the body itself is kept without personal data
        assert letter["error"] == reply["error"] and letter["error"]["reason"]
    events = comparable_log(tmp_path / "bus.db")
    assert [t.split(":")[-1].split("@")[0] for t, _v, _d in events] == [
        "PrincipalAdded", "CommandAccepted", "AgreementSigned", "CommandAccepted"]  # the sender, then its one command


@pytest.mark.postgres
def test_relay_from_a_postgresql_store(rabbit: str, pg_schema_url: str, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The production store (as in docker-compose): the relay's position lives in the store's database."""
    from datetime import datetime

    from faststream.rabbit import RabbitQueue
    from sqlalchemy import text

    from bench.rebuild import build_log
    from eventstore.bootstrap import bootstrap
    from eventstore.clock import WIB, SimulatedClock
    from projections.runner import views_engine
    from services.relay import Relay
    from services.transport import make_broker, names, rabbit_events_exchange

    monkeypatch.setenv("JAMSOS_KEY_FILE", str(tmp_path / "k.key"))
    clock = SimulatedClock(datetime(2021, 1, 2, 8, tzinfo=WIB))
    ledger = bootstrap(pg_schema_url, clock=clock)
    build_log(ledger, clock, 400, 100)
    head = ledger.store.max_notification_id()
    queue = f"{names().namespace}.pg"

    async def declare() -> int:
        broker = make_broker(rabbit)
        await broker.connect()
        await broker.declare_exchange(rabbit_events_exchange())
        q = await broker.declare_queue(RabbitQueue(queue, durable=True))
        await q.bind(exchange=names().events, routing_key=f"{names().events}.#")
        count = int(q.declaration_result.message_count or 0)
        await broker.stop()
        return count

    try:
        asyncio.run(declare())
        stats = asyncio.run(Relay(ledger.store, rabbit, "pg").run())
        assert stats.published == head
        assert asyncio.run(declare()) == head
        with views_engine(ledger.store).connect() as conn:
            assert conn.execute(text("SELECT position FROM jamsos_relay_positions WHERE name = 'pg'")).scalar() == head
        assert views_engine(ledger.store).dialect.name == "postgresql"
    finally:
        ledger.close()
        drop_rabbit_namespace(rabbit, names().namespace, (queue,))


def test_every_command_kind_over_rabbitmq_runs_only_for_the_right_token(
    rabbit: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The authorisation matrix (tests/auth_matrix.py) through the real broker: no token, a wrong one, a revoked one,
    an out-of-scope one and the wrong role are refused before any handler (nothing written, the reply only
    unauthenticated/forbidden); the dead letters hold neither a token nor the member's name."""
    from datetime import datetime

    from faststream.rabbit import RabbitQueue

    from eventstore.bootstrap import bootstrap
    from eventstore.clock import SimulatedClock
    from services.command_consumer import build_consumer
    from services.transport import declare_command_routes, names
    from tests import auth_matrix

    monkeypatch.setenv("JAMSOS_KEY_FILE", str(tmp_path / "k.key"))
    ledger = bootstrap(f"sqlite:///{tmp_path / 'matrix.db'}", clock=SimulatedClock(datetime.fromisoformat(CLOCK)))
    matrix = auth_matrix.prepare(ledger)
    tokens = [t for t in matrix.tokens.values() if t]
    dead: list[dict[str, Any]] = []

    async def scenario() -> None:
        _app, broker = build_consumer(ledger, rabbit)
        async with broker:
            await broker.start()
            await declare_command_routes(broker)
            dlq = await broker.declare_queue(RabbitQueue(names().dead_letters, durable=True))
            for kind in auth_matrix.order(list(matrix.bodies)):
                body = json.dumps(matrix.bodies[kind]).encode()
                for variant in auth_matrix.VARIANTS:
                    before = ledger.store.max_notification_id()
                    response = await broker.request(body, queue=names().commands, timeout=30,
                                                    headers=matrix.headers(kind, variant))
                    auth_matrix.check_reply(json.loads(response.body), variant, kind)
                    if variant != "right":
                        assert ledger.store.max_notification_id() == before, f"{kind} by {variant} wrote events"
            dead.extend(await drained(dlq, 1000))

    try:
        asyncio.run(scenario())
    finally:
        ledger.close()
    refused = [d for d in dead if d["error"]["code"] in ("unauthenticated", "forbidden")]
    assert len(refused) == 5 * len(matrix.bodies)
    for letter in dead:
        auth_matrix.check_dead_letter(letter, tokens)
        assert auth_matrix.SECRET_NAME not in json.dumps(letter)

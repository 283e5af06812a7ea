"""Broker services without a broker: message building, privacy, URL choice, the command consumer's decisions, and the
consumer wired through FastStream's in-memory TestRabbitBroker (acks and reconnects are tested against the real
brokers in test_broker_rabbit.py / test_broker_nats.py)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

import pytest

from cli.seed_demo import synthetic_nik
from commands.messages import EnrolMember, SignAgreement
from eventstore.bootstrap import Ledger, bootstrap
from eventstore.clock import WIB, SimulatedClock
from ledger.errors import InvalidInput
from ledger.values import FundSource, PayerType, Role
from projections.event_messages import EventMessage, event_id_for, partition_for
from services.command_consumer import build_consumer, process
from services.relay import read_batch
from services.transport import PARTITIONS, broker_kind, names
from tests.conftest import execute, grant

NAMES = ["Siti Aminah Test", "Budi Santoso Test"]


@pytest.fixture
def ledger(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Ledger]:
    monkeypatch.setenv("JAMSOS_KEY_FILE", str(tmp_path / "k.key"))
    monkeypatch.delenv("JAMSOS_BROKER_NAMESPACE", raising=False)
    ledger = bootstrap("memory://", clock=SimulatedClock(datetime(2026, 1, 5, 9, tzinfo=WIB)))
    yield ledger
    ledger.close()


@pytest.fixture
def auth(ledger: Ledger) -> dict[str, str]:
    """The ``authorization`` header of a budget owner (who may sign agreements)."""
    return {"authorization": f"Bearer {grant(ledger, 'bus-budget', Role.BUDGET_OWNER)}"}


def sign(command_id: str = "sign-1", **changes: Any) -> dict[str, Any]:
    return {"kind": "agreement.sign", "command_id": command_id, "effective_on": "2026-01-05",
            "agreement_id": "PKS-U", "name": "Unit", "payer_id": "PEMKOT-U", "payer_type": "APBD_KOTA",
            "fund_source": "APBD", "region_code": "61.72", "first_period": "2026-01", "last_period": "2026-12",
            "budget_rp": 10_000_000, **changes}


def populate(ledger: Ledger) -> list[str]:
    execute(ledger, SignAgreement(agreement_id="PKS-U", name="Unit", payer_id="PEMKOT-U",
                                  payer_type=PayerType.APBD_KOTA, fund_source=FundSource.APBD, region_code="61.72",
                                  first_period="2026-01", last_period="2026-12", budget_rp=10_000_000,
                                  effective_on=date(2026, 1, 5)))
    niks = [synthetic_nik("6172", i) for i in range(len(NAMES))]
    for nik, name in zip(niks, NAMES, strict=True):
        execute(ledger, EnrolMember(nik=nik, name=name, address="Jl. Rahasia 1", agreement_id="PKS-U",
                                    region_code="61.72", role="PETANI", effective_on=date(2026, 1, 5)))
    return niks


def test_event_messages_carry_the_envelope_and_no_personal_data(ledger: Ledger) -> None:
    niks = populate(ledger)
    batch = read_batch(ledger.store, 0, 100)
    assert [m.position for m in batch] == sorted(m.position for m in batch)
    assert len(batch) == ledger.store.max_notification_id()
    enrolled = [m for m in batch if m.type == "MemberEnrolled"]
    assert len(enrolled) == 2
    for message in enrolled:
        assert message.dropped_fields == ["personal"]
        assert "personal" not in message.payload and "recorded_at" not in message.payload
        assert message.payload["region_code"] == "61.72"
        assert message.event_id == event_id_for(message.aggregate_id, message.aggregate_version)
        assert message.partition == partition_for(message.aggregate_id, PARTITIONS)
        assert message.effective_on == date(2026, 1, 5) and message.recorded_at.tzinfo is not None
    for message in batch:
        body = message.model_dump_json()
        for secret in [*niks, *NAMES, "Rahasia", "ciphertext"]:
            assert secret not in body, f"{secret!r} leaked into {message.type}"
        assert EventMessage.model_validate_json(body) == message


def test_the_broker_is_chosen_by_url() -> None:
    assert broker_kind("amqp://guest:guest@localhost:5672/") == "rabbit"
    assert broker_kind("nats://localhost:4222") == "nats"
    assert broker_kind("redis://localhost:6379") == "redis"
    assert broker_kind("kafka://localhost:9092") == "kafka"
    with pytest.raises(InvalidInput) as err:
        broker_kind("mqtt://localhost")
    assert err.value.field == "broker"


BAD: list[tuple[bytes, str, str]] = [
    (b"{oops", "body", "invalid_input"),
    (b"[1, 2]", "body", "invalid_input"),
    (json.dumps({k: v for k, v in sign().items() if k != "command_id"}).encode(), "command_id", "invalid_input"),
    (json.dumps(sign(kind="agreement.burn")).encode(), "kind", "invalid_input"),
    (json.dumps({k: v for k, v in sign().items() if k != "kind"}).encode(), "kind", "invalid_input"),
    (json.dumps(sign(budget_rp=1.5)).encode(), "budget_rp", "invalid_input"),
    (json.dumps(sign(surprise=1)).encode(), "surprise", "invalid_input"),
]


@pytest.mark.parametrize(("body", "field", "code"), BAD)
def test_a_bad_message_is_refused_with_its_field_and_dead_lettered(
    ledger: Ledger, auth: dict[str, str], body: bytes, field: str, code: str
) -> None:
    head = ledger.store.max_notification_id()
    reply, dead = process(ledger, body, headers=auth)
    assert not reply.ok and reply.error is not None
    assert (reply.error.field, reply.error.code) == (field, code)
    assert dead is not None and dead.error == reply.error and dead.body_bytes == len(body)  # body: redacted
    assert "authorization" not in dead.headers
    assert ledger.store.max_notification_id() == head, "nothing written"


def test_business_rules_idempotency_and_replay(ledger: Ledger, auth: dict[str, str]) -> None:
    reply, dead = process(ledger, json.dumps(sign()).encode(), headers=auth)
    assert reply.ok and dead is None and reply.result and reply.result["agreement_id"] == "PKS-U"
    head = ledger.store.max_notification_id()
    again, dead = process(ledger, json.dumps(sign()).encode(), headers=auth)
    assert again.ok and again.replayed and again.result == reply.result and dead is None
    conflict, dead = process(ledger, json.dumps(sign(budget_rp=5)).encode(), headers=auth)
    assert conflict.error is not None and conflict.error.code == "idempotency_conflict" and dead is not None
    refused, dead = process(ledger, json.dumps(sign("sign-2")).encode(), headers=auth)
    assert refused.error is not None and refused.error.code == "rule_violation" and dead is not None
    assert ledger.store.max_notification_id() == head


def test_the_consumer_replies_and_dead_letters_through_faststream(ledger: Ledger, auth: dict[str, str]) -> None:
    """The wiring (subscriber, reply, dead-letter publish) on FastStream's in-memory RabbitMQ test broker."""
    from faststream.rabbit import RabbitQueue, TestRabbitBroker

    _app, broker = build_consumer(ledger, "amqp://guest:guest@localhost:5672/")
    dead: list[dict[str, Any]] = []

    @broker.subscriber(RabbitQueue(names().dead_letters, durable=True))
    async def collect(body: dict[str, Any]) -> None:
        dead.append(body)

    async def scenario() -> list[dict[str, Any]]:
        async with TestRabbitBroker(broker) as test_broker:
            replies = []
            for body in (json.dumps(sign()).encode(), b"{oops", json.dumps(sign()).encode()):
                response = await test_broker.request(body, queue=names().commands, headers=auth)
                replies.append(json.loads(response.body))
            return replies

    replies = asyncio.run(scenario())
    assert [r["ok"] for r in replies] == [True, False, True]
    assert replies[2]["replayed"] is True
    assert len(dead) == 1 and dead[0]["error"]["field"] == "body"
    assert uuid.UUID(str(read_batch(ledger.store, 0, 1)[0].aggregate_id))


def test_a_missing_broker_fails_instead_of_skipping_when_services_are_required(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests import broker_support

    monkeypatch.setattr(broker_support, "SERVICES_REQUIRED", True)
    with pytest.raises(pytest.fail.Exception, match="services are required"):
        broker_support.require_broker("amqp://guest:guest@127.0.0.1:1/")
    monkeypatch.setattr(broker_support, "SERVICES_REQUIRED", False)
    with pytest.raises(pytest.skip.Exception):
        broker_support.require_broker("amqp://guest:guest@127.0.0.1:1/")

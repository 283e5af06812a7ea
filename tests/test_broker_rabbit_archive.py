"""Against the real RabbitMQ: no event is dropped on the way out (issue 11, section 5).

Events published while no subscriber's queue is bound land in the durable archive queue the relay declares at
start (bound to the events exchange with ``#``); a publish that RabbitMQ returns unroutable (mandatory) is a failed
publish, and the relay's position does not move past it.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from commands.messages import RecordWorkforce
from eventstore.bootstrap import bootstrap
from services import relay as relay_module
from services.relay import Relay, RelayGaveUp
from services.transport import names, rabbit_events_exchange
from tests.broker_support import AMQP_URL, drop_rabbit_namespace, require_broker
from tests.conftest import execute
from tests.test_behaviour import enrol, sign

pytestmark = [pytest.mark.broker, pytest.mark.xdist_group("brokers")]

EVENTS = 36


@pytest.fixture
def rabbit(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    require_broker(AMQP_URL)
    namespace = f"test-archive-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("JAMSOS_BROKER_NAMESPACE", namespace)
    yield AMQP_URL
    drop_rabbit_namespace(AMQP_URL, namespace)


def _archived(url: str) -> list[dict[str, Any]]:
    """Every message in the archive queue (read and left there: nothing acknowledged)."""
    import aio_pika

    async def read() -> list[dict[str, Any]]:
        connection = await aio_pika.connect(url)
        async with connection:
            channel = await connection.channel()
            queue = await channel.declare_queue(names().events_archive, passive=True)
            out = []
            while (message := await queue.get(no_ack=False, fail=False)) is not None:
                out.append(json.loads(message.body))
            return out  # closing the channel returns every unacknowledged message to the queue

    return asyncio.run(read())


def _delete_archive(url: str) -> None:
    import aio_pika

    async def delete() -> None:
        connection = await aio_pika.connect(url)
        async with connection:
            channel = await connection.channel()
            await channel.queue_delete(names().events_archive)

    asyncio.run(delete())


def test_events_sent_with_no_queue_bound_are_archived_and_an_unroutable_one_is_not_delivered(
    rabbit: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JAMSOS_KEY_FILE", str(tmp_path / "k.key"))
    ledger = bootstrap(f"sqlite:///{tmp_path / 'ledger.db'}")
    try:
        sign(ledger)
        for i in range(17):
            enrol(ledger, i)
        assert ledger.store.max_notification_id() == EVENTS
        stats = asyncio.run(Relay(ledger.store, rabbit, "archive").run())  # no subscriber queue is bound
        assert stats.published == EVENTS
        archived = _archived(rabbit)
        assert sorted(m["position"] for m in archived) == list(range(1, EVENTS + 1))

        # an operator deletes the archive; a relay that does not redeclare it publishes into nothing
        _delete_archive(rabbit)
        execute(ledger, RecordWorkforce(region_code="61.72", workforce=120_000, source="BPS 2024",
                                        effective_on=date(2025, 1, 8), command_id="workforce-1"))
        head = ledger.store.max_notification_id()
        assert head == EVENTS + 2

        async def exchange_only(broker: Any) -> None:
            await broker.declare_exchange(rabbit_events_exchange())

        declare = relay_module.declare_event_route
        monkeypatch.setattr(relay_module, "declare_event_route", exchange_only)
        stuck = Relay(ledger.store, rabbit, "archive", failures_max=1)
        with pytest.raises(RelayGaveUp, match="returned it unroutable"):
            asyncio.run(stuck.run())
        assert stuck.status()["position"] == EVENTS  # not counted as delivered
        assert stuck.stats.published == 0

        monkeypatch.setattr(relay_module, "declare_event_route", declare)  # the real relay declares the archive
        again = Relay(ledger.store, rabbit, "archive")
        assert asyncio.run(again.run()).published == 2
        assert again.status()["position"] == head
        assert sorted(m["position"] for m in _archived(rabbit)) == [EVENTS + 1, EVENTS + 2]
    finally:
        ledger.close()

"""The relay's one code path on a third broker: Redis streams (real server), order and completeness."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import pytest

from tests.broker_support import build_events, require_broker

REDIS_URL = "redis://127.0.0.1:6379"
pytestmark = [pytest.mark.broker, pytest.mark.xdist_group("brokers")]


def test_relay_to_a_redis_stream_in_position_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import redis
    from faststream.redis.parser.binary import BinaryMessageFormatV1

    from services.relay import Relay
    from services.transport import names

    require_broker(REDIS_URL)
    monkeypatch.setenv("JAMSOS_KEY_FILE", str(tmp_path / "k.key"))
    monkeypatch.setenv("JAMSOS_BROKER_NAMESPACE", f"test-{uuid.uuid4().hex[:8]}")
    ledger = build_events(tmp_path / "ledger.db", 600, members=200)
    client = redis.Redis.from_url(REDIS_URL)
    try:
        stats = asyncio.run(Relay(ledger.store, REDIS_URL, "redis", batch_size_max=150).run())
        entries = client.xrange(names().events)
        positions = []
        for _id, fields in entries:  # FastStream's binary envelope: body + headers
            body, headers = BinaryMessageFormatV1.parse(fields[b"__data__"])
            positions.append(json.loads(body)["position"])
            assert headers["jamsos-position"] == str(positions[-1])
        assert stats.published == ledger.store.max_notification_id() == len(entries)
        assert positions == sorted(positions) and len(set(positions)) == len(positions)
    finally:
        client.delete(names().events)
        client.close()
        ledger.close()

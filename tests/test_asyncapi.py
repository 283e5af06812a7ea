"""The committed AsyncAPI document (docs/asyncapi.yaml) is what `faststream docs gen` makes of the code today."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = ROOT / "docs" / "asyncapi.yaml"


def generate(out: Path) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if k != "JAMSOS_BROKER_NAMESPACE"}
    faststream = str(Path(sys.executable).with_name("faststream"))
    subprocess.run([faststream, "docs", "gen", "services.asyncapi:app", "--yaml", "--out", str(out)],
                   check=True, capture_output=True, cwd=ROOT, env=env, timeout=120)
    return dict(yaml.safe_load(out.read_text()))


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """What the code generates today (once for this module: a generation imports every service)."""
    return generate(tmp_path_factory.mktemp("asyncapi") / "asyncapi.yaml")


def test_the_committed_asyncapi_document_is_up_to_date(generated: dict[str, object]) -> None:
    """Regenerate with `make asyncapi` when this fails (mappings compared, so key order does not matter)."""
    assert generated == yaml.safe_load(COMMITTED.read_text()), "docs/asyncapi.yaml is stale: run `make asyncapi`"


def test_the_document_covers_every_channel_and_message(generated: dict[str, object]) -> None:
    document = generated
    channels = document["channels"]
    assert isinstance(channels, dict)
    addresses = {c["address"] for c in channels.values()}
    assert addresses == {"jamsos.commands", "jamsos.commands.dead", "jamsos.events.{partition}.{Type}",
                         "jamsos.events.#", "amq.rabbitmq.reply-to"}
    schemas = document["components"]["schemas"]  # type: ignore[index]
    assert {"EventMessage", "CommandMessage", "CommandReply", "DeadLetter"} <= set(schemas)
    variants = [schemas[ref["$ref"].rsplit("/", 1)[-1]] for ref in schemas["EventMessage"]["oneOf"]]
    assert len(variants) > 20
    for variant in variants:  # one per event type (tests/test_asyncapi_schema.py checks them against the code)
        assert {"position", "event_id", "aggregate_id", "aggregate_version", "effective_on", "recorded_at", "actor",
                "payload", "schema_version", "type"} <= set(variant["properties"])

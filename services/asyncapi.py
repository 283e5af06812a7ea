"""The AsyncAPI document of every channel and message, generated from the code.

``faststream docs gen services.asyncapi:app --yaml --out docs/asyncapi.yaml`` (``make asyncapi``) writes the committed
``docs/asyncapi.yaml``; ``tests/test_asyncapi.py`` fails when it is out of date. The channels are registered by the
same functions the running services use (:func:`services.command_consumer.register_commands`,
:func:`services.subscriber_example.register_example`) and the relay's destination and publish options from
:mod:`services.transport`; the payloads are the pydantic models of :mod:`services.messages`, the events and commands
as the discriminated unions of :mod:`services.message_schemas` (one schema per event class and per command kind). It
describes the default broker (RabbitMQ) and the default namespace ``jamsos``. ``tests/test_asyncapi.py`` also
validates the document against the official AsyncAPI JSON schema.
"""

from __future__ import annotations

import os
from typing import Any

from faststream import AsyncAPI, FastStream
from faststream.rabbit import RabbitQueue
from faststream.specification.base import Specification

from services.command_consumer import register_commands
from services.message_schemas import command_message_schema, event_message_schema, event_type_names
from services.messages import CommandReply, DeadLetter
from services.subscriber_example import DEFAULT_NAME, register_example
from services.transport import (
    NAMESPACE_DEFAULT,
    PARTITIONS,
    RABBIT_DEAD_LETTER_PUBLISH,
    RABBIT_EVENT_PUBLISH,
    make_broker,
    names,
    rabbit_events_exchange,
)

VERSION = "1"
"""Bump with the messages' ``schema_version``."""

EventMessageSchema = event_message_schema()
CommandMessageSchema = command_message_schema()


def event_route_parameters() -> dict[str, dict[str, Any]]:
    """The parameters of the relay's address ``jamsos.events.{partition}.{Type}`` (AsyncAPI parameter objects)."""
    return {
        "partition": {"description": f"aggregate_id mod {PARTITIONS}: every event of one member, claim or "
                                     "agreement travels one partition, in order.",
                      "enum": [str(p) for p in range(PARTITIONS)], "location": "$message.payload#/partition"},
        "Type": {"description": "The event class (EventMessage.type).", "enum": event_type_names(),
                 "location": "$message.payload#/type"},
    }


class LedgerAsyncAPI(AsyncAPI):
    """FastStream's AsyncAPI 3.0 generator, plus what it cannot declare yet: the relay channel's parameters."""

    def to_specification(self) -> Specification:
        spec: Any = super().to_specification()
        address = f"{names().events}.{{partition}}.{{Type}}"
        routed = [channel for channel in spec.channels.values() if channel.address == address]
        assert len(routed) == 1, f"no channel {address}"
        routed[0].parameters = event_route_parameters()
        return spec  # type: ignore[no-any-return]


def build_spec_app() -> FastStream:
    """An app that only declares channels (it never connects): the source of the AsyncAPI document."""
    os.environ.pop("JAMSOS_BROKER_NAMESPACE", None)  # the document describes the default namespace
    assert names().namespace == NAMESPACE_DEFAULT
    broker = make_broker("amqp://guest:guest@localhost:5672/",
                         description="RabbitMQ (default). The same channels exist on NATS JetStream (subjects "
                                     "jamsos.events.<partition>.<Type> in stream JAMSOS_EVENTS).")
    broker.publisher(
        exchange=rabbit_events_exchange(),
        routing_key=f"{names().events}.{{partition}}.{{Type}}",
        **RABBIT_EVENT_PUBLISH,
        schema=EventMessageSchema,
        title=f"{names().events} (relay)",
        description=f"Every ledger event, published by `jamsos relay run` in position order, at least once, "
                    f"persistent, with publisher confirms. partition = aggregate_id mod {PARTITIONS}. Headers: "
                    "jamsos-position, jamsos-event-id, jamsos-type, jamsos-schema.",
    )
    broker.publisher(
        queue=RabbitQueue(names().dead_letters, durable=True),
        **RABBIT_DEAD_LETTER_PUBLISH,
        schema=DeadLetter,
        title=f"{names().dead_letters} (command consumer)",
        description="Refused command messages with the reason (field, reason, code) and the body without personal "
                    "data or tokens.",
    )
    broker.publisher(
        queue=RabbitQueue("amq.rabbitmq.reply-to", durable=False),
        schema=CommandReply,
        title="reply_to (command consumer)",
        description="The reply to each command message, sent to the message's reply_to (RabbitMQ direct "
                    "reply-to when sent with request()); ok + result (replayed for a retried command id), "
                    "or the error.",
    )

    async def command(body: CommandMessageSchema) -> CommandReply:  # type: ignore[valid-type]  # pragma: no cover
        raise NotImplementedError

    async def event(body: EventMessageSchema) -> None:  # type: ignore[valid-type]  # pragma: no cover
        raise NotImplementedError

    register_commands(broker, command)
    register_example(broker, DEFAULT_NAME, event)
    return FastStream(broker, specification=LedgerAsyncAPI(title="jamsos-ledger broker API", version=VERSION,
                                                           description="Events out of the ledger, commands into it."))


app = build_spec_app()

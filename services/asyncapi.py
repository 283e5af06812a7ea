"""The AsyncAPI document of every channel and message, generated from the code.

``faststream docs gen services.asyncapi:app --yaml --out docs/asyncapi.yaml`` (``make asyncapi``) writes the committed
``docs/asyncapi.yaml``; ``tests/test_asyncapi.py`` fails when it is out of date. The channels are registered by the
same functions the running services use (:func:`services.command_consumer.register_commands`,
:func:`services.subscriber_example.register_example`) and the relay's destination from
:mod:`services.transport`; the payloads are the pydantic models of :mod:`services.messages`. It describes the
default broker (RabbitMQ) and the default namespace ``jamsos``.
"""

from __future__ import annotations

import os

from faststream import AsyncAPI, FastStream
from faststream.rabbit import RabbitQueue

from services.command_consumer import register_commands
from services.messages import CommandMessage, CommandReply, DeadLetter, EventMessage
from services.subscriber_example import DEFAULT_NAME, register_example
from services.transport import NAMESPACE_DEFAULT, PARTITIONS, make_broker, names, rabbit_events_exchange

VERSION = "1"
"""Bump with the messages' ``schema_version``."""


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
        schema=EventMessage,
        title=f"{names().events} (relay)",
        description=f"Every ledger event, published by `jamsos relay run` in position order, at least once, "
                    f"persistent, with publisher confirms. partition = aggregate_id mod {PARTITIONS}. Headers: "
                    "jamsos-position, jamsos-event-id, jamsos-type, jamsos-schema.",
    )
    broker.publisher(
        queue=RabbitQueue(names().dead_letters, durable=True),
        schema=DeadLetter,
        title=f"{names().dead_letters} (command consumer)",
        description="Refused command messages with the reason (field, reason, code) and the original body.",
    )
    broker.publisher(
        queue=RabbitQueue("amq.rabbitmq.reply-to", durable=False),
        schema=CommandReply,
        title="reply_to (command consumer)",
        description="The reply to each command message, sent to the message's reply_to (RabbitMQ direct "
                    "reply-to when sent with request()); ok + result (replayed for a retried command id), "
                    "or the error.",
    )

    async def command(body: CommandMessage) -> CommandReply:  # pragma: no cover - documentation only
        raise NotImplementedError

    async def event(body: EventMessage) -> None:  # pragma: no cover - documentation only
        raise NotImplementedError

    register_commands(broker, command)
    register_example(broker, DEFAULT_NAME, event)
    return FastStream(broker, specification=AsyncAPI(title="jamsos-ledger broker API", version=VERSION,
                                                     description="Events out of the ledger, commands into it."))


app = build_spec_app()

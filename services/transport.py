"""The broker, chosen by URL, and the few names every service shares. One code path for every broker kind.

``amqp://`` (RabbitMQ, the default), ``nats://`` (JetStream), ``redis://`` (streams) and ``kafka://`` all build a
FastStream broker; :class:`EventRoute` says where an event goes, and :func:`publish_event` is the only place that
knows how each kind confirms a publish:

- RabbitMQ: a durable topic exchange ``jamsos.events``, routing key ``jamsos.events.<partition>.<Type>``,
  persistent mandatory messages, publisher confirms (the publish returns when the broker has the message; a message
  returned unroutable is a failed publish); the durable queue ``jamsos.events.archive`` bound with ``#`` keeps every
  event whether or not a subscriber's queue is bound yet.
- NATS: a JetStream stream ``JAMSOS_EVENTS`` over ``jamsos.events.>`` (file storage), the same subject scheme; the
  publish returns on the stream's ack; ``Nats-Msg-Id`` = event id lets JetStream drop a republished duplicate.
- Redis: one stream ``jamsos.events`` (XADD returns once stored), which keeps the total order.
- Kafka: topic ``jamsos.events`` keyed by aggregate id (Kafka's partitioner keeps one aggregate on one partition);
  **untested here** (no Kafka broker on the development machines; needs ``faststream[kafka]``).

Names are shown for the default namespace ``jamsos`` (see :class:`Names`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Literal

from ledger.errors import InvalidInput
from projections.event_messages import PARTITIONS as PARTITIONS
from projections.event_messages import EventMessage

BrokerKind = Literal["rabbit", "nats", "redis", "kafka"]
DEFAULT_BROKER_URL = "amqp://guest:guest@127.0.0.1:5672/"

NAMESPACE_DEFAULT = "jamsos"


@dataclass(frozen=True, slots=True)
class Names:
    """Every destination name, derived from one namespace (``JAMSOS_BROKER_NAMESPACE``, default ``jamsos``) so
    that several ledgers (or test runs) can share one broker without reading each other's messages."""

    namespace: str

    @property
    def events(self) -> str:
        """RabbitMQ exchange, Redis stream, Kafka topic, and subject prefix on NATS: ``jamsos.events``."""
        return f"{self.namespace}.events"

    @property
    def events_stream(self) -> str:
        """JetStream stream holding ``jamsos.events.>``: ``JAMSOS_EVENTS``."""
        return f"{self.namespace.upper().replace('.', '_').replace('-', '_')}_EVENTS"

    @property
    def events_archive(self) -> str:
        """RabbitMQ: the durable queue bound to the events exchange with ``#`` (every event), declared by the relay
        at start, so no event is unroutable: ``jamsos.events.archive`` (docs/rules.md#event-archive)."""
        return f"{self.namespace}.events.archive"

    @property
    def commands(self) -> str:
        """Queue (RabbitMQ), subject (NATS), stream (Redis), topic (Kafka) of command messages."""
        return f"{self.namespace}.commands"

    @property
    def dead_letters(self) -> str:
        """Where refused command messages go, with the reason and the body without personal data."""
        return f"{self.namespace}.commands.dead"

    @property
    def commands_stream(self) -> str:
        """JetStream stream holding the dead letters of commands: ``JAMSOS_COMMANDS``. Commands themselves travel
        as core NATS requests (a stream over their subject would answer each request with its own PubAck)."""
        return f"{self.namespace.upper().replace('.', '_').replace('-', '_')}_COMMANDS"


def names() -> Names:
    return Names(os.environ.get("JAMSOS_BROKER_NAMESPACE") or NAMESPACE_DEFAULT)


PUBLISH_TIMEOUT_S = 10.0
"""How long a publish waits for the broker's confirmation before it counts as failed."""

RABBIT_EVENT_PUBLISH: dict[str, Any] = {"persist": True, "mandatory": True}
"""How the relay publishes an event on RabbitMQ: persistent (delivery mode 2) and mandatory: an event no queue is
bound for comes back (basic.return) and counts as a failed publish, so the relay does not move past it. The archive
queue (:attr:`Names.events_archive`) is bound to every routing key, so this happens only if it was deleted. The
AsyncAPI document declares the relay's publisher with these same options."""
RABBIT_DEAD_LETTER_PUBLISH: dict[str, Any] = {"persist": True}
"""How the command consumer stores a dead letter on RabbitMQ: persistent (delivery mode 2)."""


def broker_url(url: str | None = None) -> str:
    return (url or os.environ.get("JAMSOS_BROKER") or DEFAULT_BROKER_URL).strip()


def broker_kind(url: str) -> BrokerKind:
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    kinds: dict[str, BrokerKind] = {"amqp": "rabbit", "amqps": "rabbit", "nats": "nats", "tls": "nats",
                                    "redis": "redis", "rediss": "redis", "kafka": "kafka"}
    if scheme not in kinds:
        raise InvalidInput("broker", f"unsupported broker URL {url!r}: use amqp://, nats://, redis:// or kafka://")
    return kinds[scheme]


def make_broker(url: str | None = None, **options: Any) -> Any:
    """A FastStream broker for ``url`` (not yet connected). ``options`` go to the broker's constructor."""
    url = broker_url(url)
    kind = broker_kind(url)
    if kind == "rabbit":
        from faststream.rabbit import RabbitBroker

        return RabbitBroker(url, **options)
    if kind == "nats":
        from faststream.nats import NatsBroker

        return NatsBroker(url, **options)
    if kind == "redis":
        from faststream.redis import RedisBroker

        return RedisBroker(url, **options)
    try:
        from faststream.kafka import KafkaBroker
    except ImportError as exc:  # pragma: no cover - extra not installed
        raise InvalidInput("broker", "kafka:// needs `pip install faststream[kafka]`") from exc
    return KafkaBroker(url.split("://", 1)[1].rstrip("/"), **options)


def kind_of(broker: Any) -> BrokerKind:
    name = type(broker).__name__
    for kind, prefix in (("rabbit", "Rabbit"), ("nats", "Nats"), ("redis", "Redis"), ("kafka", "Kafka")):
        if name.startswith(prefix):
            return kind  # type: ignore[return-value]
    raise InvalidInput("broker", f"not a supported broker: {name}")


def event_subject(message: EventMessage) -> str:
    """Routing key / subject of an event: ``jamsos.events.<partition>.<Type>``."""
    return f"{names().events}.{message.partition}.{message.type}"


def rabbit_events_exchange() -> Any:
    from faststream.rabbit import ExchangeType, RabbitExchange

    return RabbitExchange(names().events, type=ExchangeType.TOPIC, durable=True)


def rabbit_archive_queue() -> Any:
    """The durable archive of every event on RabbitMQ (docs/rules.md#event-archive)."""
    from faststream.rabbit import RabbitQueue

    return RabbitQueue(names().events_archive, durable=True)


def events_jstream() -> Any:
    from faststream.nats import JStream

    return JStream(names().events_stream, subjects=[f"{names().events}.>"], declare=True)


def commands_jstream() -> Any:
    from faststream.nats import JStream

    return JStream(names().commands_stream, subjects=[names().dead_letters], declare=True)


async def declare_event_route(broker: Any) -> None:
    """Create the durable destination of events (idempotent): the exchange, or the JetStream stream."""
    kind = kind_of(broker)
    if kind == "rabbit":
        exchange = await broker.declare_exchange(rabbit_events_exchange())
        archive = await broker.declare_queue(rabbit_archive_queue())
        await archive.bind(exchange, routing_key="#")
    elif kind == "nats":
        js = broker.config.connection_state.stream
        try:
            await js.add_stream(name=names().events_stream, subjects=[f"{names().events}.>"])
        except Exception as exc:  # already there with the same config: fine
            if "already in use" not in str(exc) and "exists" not in str(exc):
                raise


async def publish_event(broker: Any, body: bytes, message: EventMessage, timeout_s: float = PUBLISH_TIMEOUT_S) -> None:
    """Publish one event and return only once the broker has confirmed it (raises otherwise)."""
    kind = kind_of(broker)
    headers = {"jamsos-position": str(message.position), "jamsos-event-id": str(message.event_id),
               "jamsos-type": message.type, "jamsos-schema": str(message.schema_version)}
    if kind == "rabbit":
        confirm = await broker.publish(body, exchange=rabbit_events_exchange(), routing_key=event_subject(message),
                                       **RABBIT_EVENT_PUBLISH, timeout=timeout_s, headers=headers,
                                       message_id=str(message.event_id), content_type="application/json",
                                       message_type=message.type)
        if confirm is not None and type(confirm).__name__ != "Ack":  # a Nack, or the message returned unroutable
            what = "returned it unroutable" if type(confirm).__name__ == "DeliveredMessage" else f"sent {confirm!r}"
            raise ConnectionError(f"RabbitMQ did not confirm position {message.position}: it {what}")
    elif kind == "nats":
        headers["Nats-Msg-Id"] = str(message.event_id)
        await broker.publish(body, event_subject(message), headers=headers, stream=names().events_stream,
                             timeout=timeout_s)
    elif kind == "redis":
        await broker.publish(body, stream=names().events, headers=headers)
    else:
        await broker.publish(body, names().events, key=str(message.aggregate_id).encode(), headers=headers)


@dataclass(frozen=True, slots=True)
class BrokerTarget:
    """A broker URL with its kind, printed without the password."""

    url: str
    kind: BrokerKind

    @classmethod
    def parse(cls, url: str | None) -> BrokerTarget:
        url = broker_url(url)
        return cls(url, broker_kind(url))

    @property
    def safe_url(self) -> str:
        head, _, rest = self.url.partition("://")
        if "@" in rest:
            creds, _, host = rest.rpartition("@")
            user = creds.split(":", 1)[0]
            return f"{head}://{user}:***@{host}" if ":" in creds else f"{head}://{user}@{host}"
        return self.url


async def declare_command_routes(broker: Any) -> None:
    """Create the durable command queue and dead-letter destination (idempotent)."""
    kind = kind_of(broker)
    if kind == "rabbit":
        from faststream.rabbit import RabbitQueue

        await broker.declare_queue(RabbitQueue(names().commands, durable=True))
        await broker.declare_queue(RabbitQueue(names().dead_letters, durable=True))
    elif kind == "nats":
        js = broker.config.connection_state.stream
        try:
            await js.add_stream(name=names().commands_stream, subjects=[names().dead_letters])
        except Exception as exc:
            if "already in use" not in str(exc) and "exists" not in str(exc):
                raise


async def publish_dead_letter(broker: Any, body: bytes, timeout_s: float = PUBLISH_TIMEOUT_S) -> None:
    """Store one dead letter durably (confirmed by the broker before the original is acknowledged)."""
    kind = kind_of(broker)
    if kind == "rabbit":
        from faststream.rabbit import RabbitQueue

        await broker.publish(body, queue=RabbitQueue(names().dead_letters, durable=True), **RABBIT_DEAD_LETTER_PUBLISH,
                             timeout=timeout_s, content_type="application/json")
    elif kind == "nats":
        await broker.publish(body, names().dead_letters, stream=names().commands_stream, timeout=timeout_s)
    elif kind == "redis":
        await broker.publish(body, stream=names().dead_letters)
    else:
        await broker.publish(body, names().dead_letters)

"""`jamsos relay`, `jamsos consumer`, `jamsos subscriber`: the services that talk to a message broker.

The broker is chosen by URL (``--broker`` or ``JAMSOS_BROKER``): ``amqp://`` RabbitMQ (default
``amqp://guest:guest@127.0.0.1:5672/``), ``nats://`` JetStream, ``redis://`` streams, ``kafka://`` (untested).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated, Any

import typer

from cli.common import JsonOpt, StoreOpt
from cli.verbs import summary
from eventstore.bootstrap import Ledger

BrokerOpt = Annotated[
    str | None,
    typer.Option("--broker", envvar="JAMSOS_BROKER",
                 help="Broker URL: amqp://user:pass@host:5672/ (default), nats://host:4222, redis://host:6379, "
                      "kafka://host:9092."),
]
RelayNameOpt = Annotated[
    str, typer.Option("--name", envvar="JAMSOS_RELAY_NAME", help="Relay name: each name keeps its own position.")
]

relay_app = typer.Typer(help=summary("relay"))
consumer_app = typer.Typer(help=summary("consumer"))
subscriber_app = typer.Typer(help=summary("subscriber"))


def _logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")


@relay_app.command("run")
def relay_run(
    follow: Annotated[bool, typer.Option("--follow", help="Keep running, polling the log for new events.")] = False,
    broker: BrokerOpt = None,
    name: RelayNameOpt = "default",
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, max=10_000,
                                            help="Events per batch (one position update each).")] = 500,
    failures_max: Annotated[int, typer.Option("--failures-max", min=1, help="Without --follow: give up after this "
                                              "many consecutive failures (exit 1).")] = 8,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Publish the log from the relay's position to the head (and keep following with --follow).

    The position moves only after the broker confirmed a whole batch; a broker that is down or goes away is
    retried with backoff (0.5 s doubling to 10 s).
    """
    from cli.common import emit, fail, with_ledger
    from ledger.errors import RuleViolation
    from services.relay import RelayGaveUp, run_relay
    from services.transport import broker_url

    _logging()

    def go(ledger: Ledger) -> Any:
        try:
            return run_relay(ledger.store, broker_url(broker), name, follow=follow, batch_size_max=batch_size,
                             failures_max=None if follow else failures_max)
        except RelayGaveUp as exc:
            fail(RuleViolation("broker", str(exc)))
        except KeyboardInterrupt:
            return {"stopped": True}

    emit(with_ledger(store, go, create=False), as_json)


@relay_app.command("status")
def relay_status(name: RelayNameOpt = "default", store: StoreOpt = None, as_json: JsonOpt = False) -> None:
    """The relay's position, the log's head, the lag, and the last error."""
    from cli.common import emit, with_ledger
    from services.relay import Relay
    from services.transport import broker_url

    emit(with_ledger(store, lambda ledger: Relay(ledger.store, broker_url(None), name).status(), create=False),
         as_json)


@consumer_app.command("run")
def consumer_run(broker: BrokerOpt = None, store: StoreOpt = None) -> None:
    """Consume `jamsos.commands`: validate each message as a command, execute it, reply to reply_to; refused
    messages also go to `jamsos.commands.dead` with their reason. Runs until interrupted."""
    from cli.common import with_ledger
    from services.command_consumer import build_consumer

    _logging()

    def go(ledger: Ledger) -> None:
        app, _ = build_consumer(ledger, broker)
        asyncio.run(app.run())

    with_ledger(store, go, create=False)


@consumer_app.command("status")
def consumer_status(broker: BrokerOpt = None, as_json: JsonOpt = False) -> None:
    """Whether the broker answers, and (RabbitMQ) the command and dead-letter queues' depth and consumers.
    Exits 1 when the broker cannot be reached (the compose health check)."""
    from cli.common import emit, fail
    from ledger.errors import LedgerError
    from services.command_consumer import queue_status

    try:
        result = asyncio.run(queue_status(broker))
    except LedgerError as err:
        fail(err)
        return
    emit(result, as_json)


@subscriber_app.command("run")
def subscriber_run(
    broker: BrokerOpt = None,
    db: Annotated[str, typer.Option("--db", envvar="JAMSOS_SUBSCRIBER_DB",
                                    help="SQLAlchemy URL of the example's read model.")] = "sqlite:///example-subscriber.db",
    name: Annotated[str, typer.Option("--name", envvar="JAMSOS_SUBSCRIBER_NAME",
                                      help="Durable queue / consumer name.")] = "jamsos-example-active-members",
) -> None:
    """Run the example subscriber (active members per region, deduplicated by position) until interrupted."""
    from services.subscriber_example import build_app

    _logging()
    app, _ = build_app(broker, db, name)
    asyncio.run(app.run())


@subscriber_app.command("status")
def subscriber_status(
    db: Annotated[str, typer.Option("--db", envvar="JAMSOS_SUBSCRIBER_DB",
                                    help="SQLAlchemy URL of the example's read model.")] = "sqlite:///example-subscriber.db",
    as_json: JsonOpt = False,
) -> None:
    """Position, counts (applied, duplicates dropped, order violations) and active members per region."""
    from cli.common import emit
    from services.subscriber_example import ActiveMembers

    result = ActiveMembers(db).status()
    result.pop("versions")
    emit(result, as_json)

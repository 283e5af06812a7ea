"""Commands over the broker: validate a message with the CLI's pydantic command models, run the same handler.

Invariants:
- One write path: a message becomes a :class:`commands.messages.Command` through ``parse_command`` and runs through
  :func:`commands.handlers.execute` — the same validation, rules, idempotency and transaction as ``jamsos``.
- Over the broker ``command_id`` is required (it is the idempotency key): a retried message with the same id and
  payload gets the original result (``replayed: true``), another payload gets ``idempotency_conflict``.
- Every command message carries its principal's token in the ``authorization`` header (``Bearer <token>``). A
  missing, unknown, revoked or insufficient token is refused before any handler runs (before the body is even
  validated): the reply says only ``unauthenticated`` or ``forbidden`` — nothing about the member, the claim or the
  command's fields — and the dead letter keeps the precise reason but never the token.
- Every message is answered (to its ``reply_to``, when it has one) with a :class:`CommandReply`; every refused message
  (bad JSON, wrong schema, unknown kind, missing command id, a business rule) is also written to the dead-letter
  destination with its reason and original body, before it is acknowledged. Nothing is dropped silently and no
  message stops the consumer.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

import anyio
import orjson
from faststream import Context, StreamMessage

from commands.authorise import authenticate
from commands.handlers import execute
from commands.messages import parse_command
from eventstore.bootstrap import Ledger
from ledger.errors import (
    ConcurrencyConflict,
    Forbidden,
    IdempotencyConflict,
    InvalidInput,
    LedgerError,
    NotFound,
    RuleViolation,
    Unauthenticated,
)
from services.dead_letter import dead_letter
from services.messages import CommandError, CommandReply, DeadLetter
from services.transport import (
    declare_command_routes,
    kind_of,
    make_broker,
    names,
    publish_dead_letter,
)

log = logging.getLogger("jamsos.consumer")

REPLY_KINDS: list[type[LedgerError]] = [
    Unauthenticated, Forbidden, IdempotencyConflict, ConcurrencyConflict, NotFound, RuleViolation, InvalidInput,
]
"""The refusal kinds a reply names: its ``code`` and the CLI's ``exit_code`` are the kind's (a subclass, such as
``AlreadyDone``, answers as its kind)."""


def error_of(err: Exception) -> CommandError:
    if isinstance(err, LedgerError):
        kind = next((t for t in REPLY_KINDS if isinstance(err, t)), LedgerError)
        return CommandError(code=kind.code, exit_code=kind.exit_code, field=err.field, reason=err.reason)
    return CommandError(code="internal_error", exit_code=1, field="command", reason=f"{type(err).__name__}: {err}")


def parse_body(body: bytes) -> tuple[dict[str, Any], str | None, str | None]:
    """JSON object → (fields, kind, command id); raises :class:`InvalidInput` naming the field."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput("body", f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidInput("body", f"must be a JSON object, got {type(data).__name__}")
    kind = data.get("kind")
    command_id = data.get("command_id")
    return data, kind if isinstance(kind, str) else None, command_id if isinstance(command_id, str) else None


AUTH_HEADER = "authorization"
"""The header that carries ``Bearer <token>``; it never reaches a log or a dead letter."""


def bearer_token(headers: dict[str, str]) -> str | None:
    value = next((v for k, v in headers.items() if k.lower() == AUTH_HEADER), None)
    if value is None:
        return None
    scheme, _, token = value.strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def public_error(error: CommandError) -> CommandError:
    """What a sender is told: for a refused principal only ``unauthenticated`` / ``forbidden``."""
    if error.code in ("unauthenticated", "forbidden"):
        field = "token" if error.code == "unauthenticated" else "principal"
        return CommandError(code=error.code, exit_code=error.exit_code, field=field, reason=error.code)
    return error


def process(ledger: Ledger, body: bytes, source: str = "commands",
            headers: dict[str, str] | None = None) -> tuple[CommandReply, DeadLetter | None]:
    """Run one command message as the principal of its token; return its reply and, when it was refused, its dead
    letter. Never raises."""
    kind = command_id = None
    headers = dict(headers or {})
    try:
        try:
            data, kind, command_id = parse_body(body)
        except InvalidInput:
            authenticate(ledger, bearer_token(headers))  # a stranger learns nothing, not even that the body is bad
            raise
        actor = authenticate(ledger, bearer_token(headers))
        if "command_id" not in data:
            raise InvalidInput("command_id", "required over the broker (it is the idempotency key)")
        if not isinstance(data.get("kind"), str):
            raise InvalidInput("kind", "required: the command type, e.g. member.enrol")
        fields = {k: v for k, v in data.items() if k != "kind"}
        command = parse_command(data["kind"], fields)
        result = dict(execute(ledger, command, actor))
        replayed = bool(result.pop("replayed", False))
        return CommandReply(command_id=command_id, kind=kind, ok=True, replayed=replayed, result=result), None
    except Exception as exc:
        if not isinstance(exc, LedgerError):
            log.exception("command consumer: unexpected error")
        error = error_of(exc)
        dead = dead_letter(body, source, command_id, kind, error, headers)  # without personal data or tokens
        return CommandReply(command_id=command_id, kind=kind, ok=False, error=public_error(error)), dead


def build_consumer(ledger: Ledger, url: str | None = None) -> tuple[Any, Any]:
    """The command consumer as a FastStream app over the broker at ``url``; returns (app, broker)."""
    from faststream import FastStream

    broker = make_broker(url, log_level=logging.DEBUG)  # one log line per message only at DEBUG

    async def handle(message: Annotated[StreamMessage[Any], Context("message")]) -> dict[str, Any]:
        body = message.body
        headers = {str(k): str(v) for k, v in (message.headers or {}).items()}
        reply, dead = await anyio.to_thread.run_sync(lambda: process(ledger, body, names().commands, headers))
        if dead is not None:
            log.warning("command %s refused: %s: %s", reply.command_id, dead.error.field, dead.error.reason)
            await publish_dead_letter(broker, dead.model_dump_json().encode())
        return reply.model_dump(mode="json")

    register_commands(broker, handle)
    app = FastStream(broker, logger=log)

    @app.after_startup
    async def declare() -> None:
        await declare_command_routes(broker)

    return app, broker


def register_commands(broker: Any, handler: Any) -> Any:
    """Subscribe ``handler`` to the command destination (acknowledged after it returns, and after the dead
    letter is stored). The handler's return value is the reply FastStream sends to ``reply_to``."""
    from faststream import AckPolicy

    kind = kind_of(broker)
    description = ("Commands (the JSON of a commands.messages command, with kind and command_id); "
                   "replies CommandReply to reply_to; refused ones also go to jamsos.commands.dead.")
    if kind == "rabbit":
        from faststream.rabbit import RabbitQueue

        return broker.subscriber(RabbitQueue(names().commands, durable=True), ack_policy=AckPolicy.NACK_ON_ERROR,
                                 title=names().commands, description=description)(handler)
    if kind == "nats":  # core NATS request/reply in a queue group; a sender retries with the same command id
        return broker.subscriber(names().commands, queue=f"{names().namespace}-command-consumer",
                                 title=names().commands, description=description)(handler)
    raise NotImplementedError(f"the command consumer runs on RabbitMQ and NATS, not {kind}")


async def queue_status(url: str | None = None, timeout_s: float = 5.0) -> dict[str, Any]:
    """Reach the broker; on RabbitMQ also report the command and dead-letter queues (messages, consumers)."""
    import asyncio

    from services.transport import BrokerTarget

    target = BrokerTarget.parse(url)
    broker = make_broker(target.url, logger=None)
    try:
        await asyncio.wait_for(broker.connect(), timeout_s)
    except Exception as exc:
        raise ConcurrencyConflict("broker", f"cannot reach {target.safe_url}: {type(exc).__name__}: {exc}") from None
    try:
        out: dict[str, Any] = {"broker": target.safe_url, "reachable": True}
        if target.kind == "rabbit":
            from faststream.rabbit import RabbitQueue

            for key, queue in (("commands", names().commands), ("dead_letters", names().dead_letters)):
                declared = await broker.declare_queue(RabbitQueue(queue, durable=True))
                result = declared.declaration_result
                out[key] = {"queue": queue, "messages": result.message_count, "consumers": result.consumer_count}
        return out
    finally:
        await broker.stop()


__all__ = ["build_consumer", "process"]

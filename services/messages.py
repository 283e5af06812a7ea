"""The messages the ledger exchanges over a broker besides events: commands in, replies and dead letters.

Every message is a versioned pydantic model serialised as JSON (events: :mod:`projections.event_messages`).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class CommandError(BaseModel):
    """Why a command was refused: the same field/reason pair the CLI prints, and the CLI's exit code."""

    model_config = ConfigDict(frozen=True)

    code: str = Field(description="invalid_input, rule_violation, not_found, idempotency_conflict, "
                                  "concurrency_conflict or internal_error.")
    exit_code: int = Field(description="What `jamsos` would have exited with.")
    field: str
    reason: str


class CommandReply(BaseModel):
    """The reply to one command message (sent to its ``reply_to``).

    Invariants: exactly one of ``result`` and ``error`` is set; ``replayed`` is true when the command id had
    already been executed with the same payload and ``result`` is the original one (nothing was written again).
    """

    model_config = ConfigDict(frozen=True)

    schema_version: Literal[1] = 1
    command_id: str | None
    kind: str | None
    ok: bool
    replayed: bool = False
    result: dict[str, Any] | None = None
    error: CommandError | None = None


class DeadLetter(BaseModel):
    """A command message the consumer could not execute, kept with its reason and its body without personal data
    (``services.dead_letter``, docs/rules.md#dead-letters).

    Invariants: ``error`` names the field and the reason; ``body_b64``/``body_text`` are the received JSON object
    with every personal (or unknown) field replaced by ``"[redacted]"`` (``redacted`` lists them), or empty when the
    body was not a JSON object (then only ``body_bytes`` and ``body_sha256`` are kept); no header carrying a
    credential is kept; a dead letter is written before the original message is acknowledged, so a refused message
    is never silently lost.
    """

    model_config = ConfigDict(frozen=True)

    schema_version: Literal[1] = 1
    received_at: datetime
    source: str = Field(description="Where the message came from (queue or subject).")
    command_id: str | None
    kind: str | None
    error: CommandError
    body_b64: str = Field(description="The redacted JSON body (base64); empty when the body was not a JSON object.")
    body_text: str | None = Field(description="The redacted JSON body as text; null when it was not a JSON object.")
    body_bytes: int = Field(default=0, ge=0, description="Length of the received body.")
    body_sha256: str | None = Field(default=None, description="SHA-256 of the received body when no text is kept.")
    redacted: list[str] = Field(default_factory=list, description="The fields replaced by \"[redacted]\".")
    headers: dict[str, str] = Field(default_factory=dict, description="Received headers but credentials.")


class CommandMessage(BaseModel):
    """Documentation of a command message's envelope (the body is the command's own JSON).

    The body is one JSON object: ``kind`` (one of ``commands.messages.COMMAND_TYPES``), ``command_id`` (required over
    the broker: it is the idempotency key), optionally ``actor`` and ``effective_on``, and the command's fields
    exactly as the pydantic command models of ``commands/messages.py`` define them (unknown fields are refused).
    """

    model_config = ConfigDict(extra="allow")

    kind: str
    command_id: str = Field(min_length=1, max_length=128)
    actor: str | None = None
    effective_on: date | None = None

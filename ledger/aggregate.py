"""The aggregate base: decide in a command method, then trigger an event; state is a pure fold.

Invariants:
- ``version`` equals the ``originator_version`` of the last applied event (0 before the first).
- ``apply`` is a pure function of (state, event): no clock, no randomness, no I/O, no validation —
  it is replayed on every load. All checks happen in the command methods, before ``_trigger``.
- State is a pydantic model so it can be snapshotted exactly (``snapshot()`` / ``from_snapshot``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, ClassVar, Generic, Self, TypeVar

from pydantic import BaseModel

from ledger.events import LedgerEvent

S = TypeVar("S", bound=BaseModel)
E = TypeVar("E", bound=LedgerEvent)


@dataclass(frozen=True, slots=True)
class CommandContext:
    """Who asked, which command, and the two clocks (ledger time and the library's wall time)."""

    command_id: str
    actor: str
    recorded_at: datetime
    timestamp: datetime

    def __post_init__(self) -> None:
        assert self.recorded_at.tzinfo is not None, "recorded_at must be timezone-aware"
        assert self.timestamp.tzinfo is not None, "timestamp must be timezone-aware"


class Aggregate(Generic[S]):
    """Base for the ledger's aggregates. Subclasses set ``state_type`` and implement ``apply``."""

    state_type: ClassVar[type[BaseModel]]
    events_max: ClassVar[int] = 100_000
    """A limit on everything: a stream longer than this is a modelling error."""
    snapshotted: ClassVar[bool] = True
    """Whether a write keeps this aggregate's snapshot row (its state at the version written, and the columns the
    store queries by kind). False only for a kind that is loaded by id alone, from a stream of an event or two,
    and never listed by kind: its row would cost every write a snapshot row and a state row and save no read."""

    def __init__(self, aggregate_id: uuid.UUID, version: int = 0, state: S | None = None) -> None:
        self.id = aggregate_id
        self.version = version
        self.state: S = state if state is not None else self.initial_state()
        self.pending: list[LedgerEvent] = []

    @classmethod
    def initial_state(cls) -> S:
        return cls.state_type.model_construct()  # type: ignore[return-value]

    @property
    def exists(self) -> bool:
        return self.version > 0

    def apply(self, event: LedgerEvent) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _trigger(self, ctx: CommandContext, event_type: type[E], effective_on: date, **fields: Any) -> E:
        assert self.version < self.events_max, f"stream {self.id} exceeds {self.events_max} events"
        event = event_type(
            originator_id=self.id,
            originator_version=self.version + 1,
            timestamp=ctx.timestamp,
            recorded_at=ctx.recorded_at,
            effective_on=effective_on,
            actor=ctx.actor,
            command_id=ctx.command_id,
            **fields,
        )
        self.mutate(event)
        self.pending.append(event)
        return event

    def mutate(self, event: LedgerEvent) -> None:
        assert event.originator_id == self.id, "event belongs to another aggregate"
        assert event.originator_version == self.version + 1, (
            f"event version {event.originator_version} does not follow {self.version}"
        )
        self.apply(event)
        self.version = event.originator_version

    def collect_events(self) -> list[LedgerEvent]:
        events, self.pending = self.pending, []
        return events

    @classmethod
    def replay(cls, aggregate_id: uuid.UUID, events: list[LedgerEvent], base: Self | None = None) -> Self:
        agg = base if base is not None else cls(aggregate_id)
        for event in events:
            agg.mutate(event)
        return agg

    def snapshot(self) -> bytes:
        return self.state.model_dump_json().encode()

    @classmethod
    def from_snapshot(cls, aggregate_id: uuid.UUID, version: int, state_json: bytes) -> Self:
        state = cls.state_type.model_validate_json(state_json)
        return cls(aggregate_id, version, state)  # type: ignore[arg-type]

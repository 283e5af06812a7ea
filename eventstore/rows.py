"""The rows the store port speaks in: snapshot rows, prepared writes, heads, log guards (no I/O here).

Re-exported by :mod:`eventstore.store`, where the invariants they serve are described.
"""

from __future__ import annotations

import hashlib
import uuid
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic

from eventstore.mapper import PydanticMapper, decode_state
from ledger.aggregate import Aggregate
from ledger.errors import ConcurrencyConflict
from ledger.events import LedgerEvent
from ledger.member import Member

A = TypeVar("A", bound=Aggregate[Any])

SNAPSHOT_TABLE = "jamsos_snapshots"
STATE_TABLE = "jamsos_snapshot_states"
SCHEMA_LOCK_KEY = 0x4A414D534F53  # "JAMSOS": advisory lock held while creating tables
CHUNK_IDS_MAX = 500
"""Ids per IN (...) query: well under SQLite's variable limit."""
SNAPSHOT_COMPRESSION_LEVEL = 1
"""zlib level for snapshot state: JSON shrinks several times for a few microseconds."""
STATE_HASH_BYTES = 16
CHAINED_APPLICATION_ID = 0x4A4D5343  # "JMSC" in the SQLite file header: this store's events are chained
CHAINED_COMMENT = "jamsos: every event is linked into jamsos_chain"

EventRow = tuple[uuid.UUID, int, str, bytes]
"""(originator id, version, topic, state): a stored event as the bulk paths build it."""
LogRow = tuple[int, str, int, str, bytes]
"""One event as the log reader sees it: position, aggregate id (canonical text), version, topic, state."""
READ_LIMIT_MAX = 1_000_000
"""Most rows one ``read_log`` call returns (its page lives in memory)."""

SnapshotParams = tuple[uuid.UUID, str, int, "str | None", "str | None", int, bytes]
"""(aggregate id, kind, version, cohort, due_on, has_claims, state hash): one snapshot row to upsert."""


@dataclass(frozen=True, slots=True)
class SnapshotRow:
    """An aggregate's state at ``version``, with the index columns the bulk paths query by.

    ``cohort``: for a member, the agreement funding its open chain ("SELF"), None when closed.
    ``due_on``: for a member, the ISO date an arrears lapse falls due. ``has_claims``: 1 if any claim.
    ``state``: zlib-compressed JSON of the state; ``state_hash`` its BLAKE2b digest.
    """

    aggregate_id: uuid.UUID
    kind: str
    version: int
    cohort: str | None
    due_on: str | None
    has_claims: int
    state_hash: bytes
    state: bytes

    def aggregate(self, cls: type[A]) -> A:
        """The aggregate this row snapshots."""
        return cls.from_snapshot(self.aggregate_id, self.version, zlib.decompress(self.state))

    def params_for(self, aggregate_id: uuid.UUID, version: int) -> SnapshotParams:
        """The upsert parameters of this state for an aggregate in the same situation."""
        return (aggregate_id, self.kind, version, self.cohort, self.due_on, self.has_claims, self.state_hash)


def event_rows(stored: Iterable[StoredEvent]) -> list[EventRow]:
    """Stored events as the rows :meth:`LedgerStore.write_rows` takes."""
    return [(uuid.UUID(str(s.originator_id)) if not isinstance(s.originator_id, uuid.UUID) else s.originator_id,
             s.originator_version, s.topic, s.state) for s in stored]


def snapshot_row(agg: Aggregate[Any]) -> SnapshotRow:
    cohort = due_on = None
    has_claims = 0
    if isinstance(agg, Member):
        cohort = agg.cohort
        due = agg.arrears_lapse_on()
        due_on = due.isoformat() if due else None
        has_claims = int(bool(agg.state.claims))
    state = zlib.compress(agg.snapshot(), SNAPSHOT_COMPRESSION_LEVEL)
    digest = hashlib.blake2b(state, digest_size=STATE_HASH_BYTES).digest()
    return SnapshotRow(agg.id, type(agg).__name__, agg.version, cohort, due_on, has_claims, digest, state)


@dataclass(frozen=True, slots=True)
class PreparedWrite:
    """What one :meth:`LedgerStore.save` writes, built before any database is touched: its events (in order),
    the snapshot rows of the aggregates they change, and the snapshot states those rows point at."""

    events: list[EventRow]
    snapshots: list[SnapshotParams]
    states: dict[bytes, bytes]


@dataclass(frozen=True, slots=True)
class Head:
    """An aggregate's current state as stored: its snapshot plus the events recorded after it.

    Two heads with equal ``key`` describe aggregates in exactly the same state (neither snapshot state
    nor event state holds the aggregate id), which lets the bulk paths decide once per distinct state.
    """

    row: SnapshotRow
    newer: tuple[tuple[str, bytes], ...] = ()

    @property
    def aggregate_id(self) -> uuid.UUID:
        return self.row.aggregate_id

    @property
    def version(self) -> int:
        return self.row.version + len(self.newer)

    @property
    def key(self) -> tuple[bytes, tuple[tuple[str, bytes], ...]]:
        return (self.row.state_hash, self.newer)

    def aggregate(self, cls: type[A], mapper: PydanticMapper) -> A:
        agg = self.row.aggregate(cls)
        for version, (topic, state) in enumerate(self.newer, start=self.row.version + 1):
            agg.mutate(decode_state(topic, self.aggregate_id, version, mapper.plain_state(state)))
        return agg


Matters = Callable[[str, str, bytes], bool]
"""(aggregate id as canonical text, topic, canonical JSON state) → whether that event could change a decision."""


def topic_of(event_type: type[LedgerEvent]) -> str:
    """The topic an event of this type is stored under (``module:Class``)."""
    return get_topic(event_type)


@dataclass(frozen=True, slots=True)
class LogGuard:
    """A write's precondition on the log: no event of ``event_types`` (and, with ``matters``, none of those
    for which ``matters`` is true) was written after ``position``.

    A command that decided on read models caught up to ``position`` (the log position they stood at then)
    passes this to :meth:`LedgerStore.save`; an event that could change its decision and was written in
    between makes the save raise :class:`ConcurrencyConflict`, so the command re-decides on fresh data.
    ``matters`` runs inside the write's transaction, on the events of ``event_types`` in that window only:
    it must be quick and pure. ``what`` names the decision in the error."""

    position: int
    event_types: tuple[type[LedgerEvent], ...]
    what: str
    matters: Matters | None = None

    @property
    def topics(self) -> list[str]:
        """The stored topics (``module:Class``) of ``event_types``."""
        return sorted({topic_of(t) for t in self.event_types})

    def first_breach(self, rows: Iterable[tuple[int, str, str, bytes]]) -> int | None:
        """The position of the first of ``rows`` (position, aggregate id, topic, plain state; of the guard's
        topics, after its position, in order) that could change the decision."""
        matters = self.matters
        for position, aggregate_id, topic, state in rows:
            if matters is None or matters(aggregate_id, topic, state):
                return position
        return None

    def conflict(self, position: int) -> ConcurrencyConflict:
        return ConcurrencyConflict("log", f"{self.what}: an event that could change it was written at position "
                                          f"{position}, after the read models it was decided on "
                                          f"({self.position}); retry to re-decide")


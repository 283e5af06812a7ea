"""The in-memory adapter of :class:`eventstore.store.LedgerStore` (the library's POPO recorder), for fast tests."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from eventsourcing.persistence import StoredEvent

from eventstore.chain import KIND_WRITE, ChainError, ChainRow, RawEvent, next_row, write_leaves
from eventstore.chain_store import chain_now
from eventstore.store import EventRow, LedgerStore, LogGuard, SnapshotParams, SnapshotRow


class MemoryStore(LedgerStore):
    """In-memory adapter (the library's POPO recorder) for fast unit tests."""

    def _create_snapshot_tables(self) -> None:
        self._snapshots: dict[uuid.UUID, tuple[SnapshotRow, bytes]] = {}
        self._states: dict[bytes, bytes] = {}
        self._lock: threading.RLock = self.recorder._database_lock
        self._chain: list[ChainRow] = []

    def _create_chain(self) -> None:
        """A memory store starts empty: nothing to upgrade."""

    def _write(
        self, events: Sequence[EventRow], snapshots: Sequence[SnapshotParams], states: list[tuple[bytes, bytes]],
        guard: LogGuard | None,
    ) -> int:
        stored = [StoredEvent(originator_id=i, originator_version=v, topic=t, state=s) for i, v, t, s in events]
        with self._lock:
            if guard is not None:  # under the lock every writer takes: nothing can be appended meanwhile
                topics = set(guard.topics)
                after = self.recorder._stored_events[guard.position:]
                found = guard.first_breach((p, str(s.originator_id), s.topic, self._plain(s.state))
                                           for p, s in enumerate(after, guard.position + 1) if s.topic in topics)
                if found is not None:
                    raise guard.conflict(found)
            head = self._chain[-1] if self._chain else None
            first = len(self.recorder._stored_events) + 1
            leaves = write_leaves(first, events)  # before the insert: a failing hash leaves nothing half-written
            link = next_row((head.batch, head.hash) if head else None, first, leaves, KIND_WRITE, chain_now())
            positions = self.recorder._insert_events(stored)  # checks uniqueness before changing anything
            if positions != list(range(first, first + len(events))):  # pragma: no cover - the recorder appends
                raise ChainError(f"chain: positions {positions[:3]}... are not {first}...")
            self._chain.append(link)
            self._states.update(states)
            for aggregate_id, kind, version, cohort, due_on, has_claims, digest in snapshots:
                old = self._snapshots.get(aggregate_id)
                if old is None or version > old[0].version:
                    row = SnapshotRow(aggregate_id, kind, version, cohort, due_on, has_claims, digest,
                                      self._states[digest])
                    self._snapshots[aggregate_id] = (row, digest)
        return first

    def raw_events(self, after: int, limit: int) -> list[RawEvent]:
        with self._lock:
            found = self.recorder._stored_events[after : after + limit]
        out: list[RawEvent] = []
        for position, s in enumerate(found, start=after + 1):
            i = s.originator_id
            out.append((position, (i.hex if isinstance(i, uuid.UUID) else str(i)).encode(),
                        b"%d" % s.originator_version, s.topic.encode(), s.state))
        return out

    def chain_rows(self, after_batch: int, limit: int, *, leaves: bool = True) -> list[ChainRow]:
        with self._lock:
            return self._chain[after_batch : after_batch + limit]

    def chain_row_at(self, position: int) -> ChainRow | None:
        with self._lock:
            return next((r for r in self._chain if r.first_position <= position <= r.last_position), None)

    def chain_head(self) -> ChainRow | None:
        with self._lock:
            return self._chain[-1] if self._chain else None

    def chain_batch_of(self, digest: bytes) -> int | None:
        with self._lock:
            return next((r.batch for r in self._chain if r.hash == digest), None)

    def collect_unused_states(self) -> int:
        with self._lock:
            used = {h for _, h in self._snapshots.values()}
            unused = [h for h in self._states if h not in used]
            for h in unused:
                del self._states[h]
        return len(unused)

    def _select_snapshots(self, ids: Sequence[uuid.UUID]) -> Iterable[SnapshotRow]:
        with self._lock:
            return [self._snapshots[i][0] for i in ids if i in self._snapshots]

    def _select_newer(self, rows: Sequence[SnapshotRow]) -> Iterable[tuple[uuid.UUID, int, str, bytes]]:
        out = []
        for row in rows:
            for s in self.recorder.select_events(row.aggregate_id, gt=row.version):
                out.append((row.aggregate_id, s.originator_version, s.topic, s.state))
        return out

    def _select_started(self, ids: Sequence[uuid.UUID]) -> Iterable[uuid.UUID]:
        return [i for i in ids if self.recorder.select_events(i, limit=1)]

    def _matching(self, test: Any) -> Iterator[SnapshotRow]:
        with self._lock:
            rows = [r for r, _ in self._snapshots.values() if test(r)]
        yield from sorted(rows, key=lambda r: r.aggregate_id.hex)

    def snapshots_of_kind(self, kind: str, cohort: str | None = None) -> Iterator[SnapshotRow]:
        return self._matching(lambda r: r.kind == kind and (cohort is None or r.cohort == cohort))

    def members_to_sweep(self, cohorts: Sequence[str], due_by: str) -> Iterator[SnapshotRow]:
        wanted = set(cohorts)
        return self._matching(
            lambda r: r.kind == "Member"
            and (r.cohort in wanted or (r.due_on is not None and r.due_on <= due_by) or r.has_claims)
        )


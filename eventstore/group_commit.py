"""Group commit: the saves of commands decided concurrently, written in one transaction while the last one commits.

A process whose commands decide in several threads at once (the HTTP server) pays one transaction, and on SQLite
one fsync, per command when each saves alone; the store takes one writer at a time, so those commits queue anyway.
:class:`GroupCommitter` makes the queue a batch: the first caller to find no write in flight becomes the leader and
writes every save queued so far (at most :data:`BATCH_ITEMS_MAX`) with one :meth:`LedgerStore.write_prepared`; the
saves queued while it commits wait for it and go in the next batch, led by one of them. There is no thread of its
own: nothing to start or stop.

Invariants:
- Each caller's :meth:`GroupCommitter.save` returns only once its rows are committed, and raises exactly what a
  save of its own would have raised (:class:`ConcurrencyConflict` included), never another caller's error.
- A batch that fails as a whole for any reason — two of its saves change the same aggregate (the insert collides on
  (aggregate, version)), a concurrent writer got there first, one save's rows are bad — writes nothing and is
  written again one save per transaction, so each save gets the outcome it would have had alone, in queue order.
- A guarded save (:class:`LogGuard`, a decision taken on read models) is never batched: its guard checks the log
  before the write's first event, which in a batch would not see the events of the saves before it. It is written
  alone, directly (the store's write lock orders it against the batches).
- The chain links one row per transaction, as for any write: a batch is one chain row holding all its events.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from eventstore.store import LedgerStore, LogGuard, PreparedWrite
from ledger.aggregate import Aggregate

BATCH_ITEMS_MAX = 64
"""Saves per batch transaction: bounds one transaction's size and the wait of the first save in it."""


@dataclass(eq=False)
class _Item:
    prepared: PreparedWrite
    done: bool = False
    error: BaseException | None = None


class GroupCommitter:
    """Batches concurrent :meth:`LedgerStore.save` calls into one transaction each (see the module)."""

    def __init__(self, store: LedgerStore, batch_items_max: int = BATCH_ITEMS_MAX) -> None:
        assert batch_items_max >= 1
        self.store = store
        self.batch_items_max = batch_items_max
        self._cond = threading.Condition()
        self._queue: list[_Item] = []
        self._leading = False
        self.batches = 0
        """Transactions written for batches (a fallback's single saves not counted): for tests and measures."""
        self.batched_saves = 0
        """Saves committed in a batch of more than one."""
        self.fallbacks = 0
        """Batches that failed as a whole and were written again one save at a time."""

    def save(self, *aggregates: Aggregate[Any], guard: LogGuard | None = None) -> int:
        """Like :meth:`LedgerStore.save`: write every pending event of ``aggregates`` and their snapshots, committed
        before this returns (possibly in one transaction with other callers' saves); the number of events."""
        if guard is not None:
            return self.store.save(*aggregates, guard=guard)
        prepared = self.store.prepare(*aggregates)
        if prepared is None:
            return 0
        item = _Item(prepared)
        with self._cond:
            self._queue.append(item)
            while self._leading and not item.done:
                self._cond.wait()
            if not item.done:
                self._leading = True
        if not item.done:
            self._lead(item)
        if item.error is not None:
            raise item.error
        return len(prepared.events)

    def _lead(self, mine: _Item) -> None:
        """Write batches from the head of the queue until ``mine`` is written, then hand over the lead."""
        try:
            while not mine.done:
                with self._cond:
                    batch = self._queue[: self.batch_items_max]
                    del self._queue[: self.batch_items_max]
                if not batch:  # pragma: no cover - only a leader takes from the queue, and mine was in it
                    mine.error = RuntimeError("group commit: a save left the queue unwritten")
                    break
                self._write(batch)
                with self._cond:
                    for item in batch:
                        item.done = True
                    self._cond.notify_all()
        finally:
            with self._cond:
                self._leading = False
                self._cond.notify_all()  # a waiter not yet written (queued meanwhile) takes the lead

    def _write(self, batch: list[_Item]) -> None:
        """Write ``batch`` in one transaction, or, if that fails, each of its saves in its own."""
        if len(batch) > 1:
            try:
                self.store.write_prepared(*(item.prepared for item in batch))
            except Exception:
                self.fallbacks += 1
            else:
                self.batches += 1
                self.batched_saves += len(batch)
                return
        for item in batch:
            try:
                self.store.write_prepared(item.prepared)
            except BaseException as err:  # handed to its own caller, re-raised there
                item.error = err

"""The log as pseudonymous event messages, in position order: what the broker relay publishes and what the HTTP
event feed serves, one page at a time, filtered by the reader's scope.

Invariants:
- :func:`read_batch` returns every event after a position, in order: the relay's unit of work.
- :func:`feed_page` returns the events after ``after`` that the scope reaches (:mod:`projections.event_scope`),
  at most ``limit`` of them, and ``next_after``: the last position it examined. Resuming from ``next_after``
  misses nothing and repeats nothing. A scoped reader's ``next_after`` moves past events it may not see — it
  learns that positions were used, never by what (no type, no count beyond the position numbers, which have
  holes anyway).
- One page examines at most :data:`SCAN_EVENTS_MAX` positions, so a reader who sees little of the log still gets
  an answer promptly (an empty page whose ``next_after`` moved on; ask again from there).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eventstore.store import LedgerStore
from ledger.principal import Scope
from projections.event_messages import PARTITIONS, EventMessage, event_message
from projections.event_scope import ScopeResolver

LIMIT_MAX = 1000
"""Most events in one feed page."""
LIMIT_DEFAULT = 100
SCAN_EVENTS_MAX = 10_000
"""Most log positions one feed page examines (for a scoped reader most may be outside its scope)."""


def _aggregate_id(n: Any) -> uuid.UUID:
    return n.originator_id if isinstance(n.originator_id, uuid.UUID) else uuid.UUID(str(n.originator_id))


def _message(store: LedgerStore, n: Any, partitions: int) -> EventMessage:
    raw = n.state if isinstance(n.state, bytes) else str(n.state).encode()
    return event_message(n.id, _aggregate_id(n), n.originator_version, n.topic, store.mapper.plain_state(raw),
                         partitions)


def read_batch(store: LedgerStore, after: int, limit: int, partitions: int = PARTITIONS) -> list[EventMessage]:
    """The next events after position ``after`` as broker messages, in position order."""
    return [_message(store, n, partitions) for n in store.select_notifications(after + 1, limit)]


@dataclass(frozen=True, slots=True)
class FeedPage:
    """One page of the feed: ``events`` in position order, ``next_after`` to resume from (≥ the ``after`` asked),
    ``head`` the log's last position when the page was read (``next_after == head``: caught up)."""

    events: Sequence[EventMessage]
    next_after: int
    head: int


def feed_page(store: LedgerStore, scope: Scope, after: int, limit: int = LIMIT_DEFAULT,
              scan_max: int = SCAN_EVENTS_MAX) -> FeedPage:
    """Up to ``limit`` events after ``after`` that ``scope`` reaches (see the module's invariants)."""
    assert 1 <= limit <= LIMIT_MAX and after >= 0, (limit, after)
    events: list[EventMessage] = []
    cursor, scanned = after, 0
    head = store.max_notification_id()
    if after >= head:  # nothing beyond: and no position past the store's integers is ever asked for
        return FeedPage(events, after, max(head, after))
    resolver = None if scope.is_all else ScopeResolver(store)  # one per page: a later page sees later changes
    while len(events) < limit and scanned < scan_max:
        want = limit - len(events) if resolver is None else min(LIMIT_MAX, scan_max - scanned)
        rows = list(store.select_notifications(cursor + 1, want))
        if not rows:
            break
        reach = None if resolver is None else resolver.reach(_aggregate_id(n) for n in rows)
        for n in rows:
            if reach is None or reach[_aggregate_id(n)].within(scope):
                events.append(_message(store, n, PARTITIONS))
            cursor = n.id
            scanned += 1
            if len(events) == limit:
                break
        if len(rows) < want:
            break
    return FeedPage(events, cursor, max(store.max_notification_id(), cursor))

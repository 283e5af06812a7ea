"""``audit verify``, ``seal`` and ``prove`` over the chain of record (:mod:`eventstore.chain`).

``verify`` reads the whole log and the whole chain in pages and hashes stored bytes only (it never decodes an
event, so a byte that breaks the JSON is one more edit at a named position). It reports exactly what changed:

* ``position P: ... (edited)`` — the event's bytes no longer give the leaf its chain row holds;
* ``position P: ... (removed)`` — a position its chain row holds is missing from the event store;
* ``position P: ... not in the chain`` — an event no chain row holds (slipped in, or its row was removed);
* a chain row whose content no longer gives its hash, one that does not follow the row before, missing batches,
  leaves that no longer give the batch's Merkle root, an upgrade after the chain had started;
* a sealed head (``--head``) that the chain does not hold — history rewritten with its chain. A head sealed
  by the audit projection before the write-time chain existed is recomputed from the stored bytes with
  that projection's formula (:func:`eventstore.chain.legacy_hash`).

Each finding names its first position; consecutive positions with the same problem are one finding.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_right
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from eventstore.chain import (
    GENESIS,
    HASH_BYTES,
    KIND_UPGRADE,
    KIND_WRITE,
    KINDS,
    ChainBroken,
    ChainRow,
    RawEvent,
    inclusion_path,
    leaf_hash,
    legacy_hash,
    merkle_root,
    raw_leaf,
    split_leaves,
)
from eventstore.store import LedgerStore
from ledger.errors import InvalidInput, NotFound

POSITION_MAX = 2**63 - 1
"""The largest log position a store holds (a signed 64-bit integer); beyond it the store cannot even be asked."""

EVENT_PAGE = 10_000
CHAIN_PAGE = 32
"""Chain rows per read: each holds up to 10,000 leaves (320 KB)."""

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Finding:
    position: int
    problem: str
    last: int | None = None

    def __str__(self) -> str:
        if self.last is None or self.last == self.position:
            return f"position {self.position}: {self.problem}"
        return f"positions {self.position}..{self.last} ({self.last - self.position + 1} events): {self.problem}"


class _Live(Generic[T]):
    """A paged reader of a growing sequence: reads the next page whenever its buffer is empty (so what was
    committed after the previous page is seen); ``reads`` counts the pages read."""

    def __init__(self, fetch: Callable[[int, int], list[T]], key: Callable[[T], int], page: int) -> None:
        self.fetch, self.key, self.page = fetch, key, page
        self.buffer: list[T] = []
        self.i = 0
        self.after = 0
        self.reads = 0

    def peek(self) -> T | None:
        if self.i == len(self.buffer):
            self.buffer, self.i = self.fetch(self.after, self.page), 0
            self.reads += 1
            if not self.buffer:
                return None
        return self.buffer[self.i]

    def pop(self) -> T:
        item = self.buffer[self.i]
        self.i += 1
        self.after = self.key(item)
        return item

    def take_through(self, last: int) -> list[T]:
        """Pop every next item whose key is at most ``last`` (the buffer is in key order), reading pages as
        needed: what :meth:`peek` and :meth:`pop` one by one would give, without a call per item."""
        taken: list[T] = []
        while self.peek() is not None:
            start = self.i
            end = bisect_right(self.buffer, last, lo=start, key=self.key)
            if end == start:
                break
            taken.extend(self.buffer[start:end])
            self.i = end
            self.after = self.key(self.buffer[end - 1])
            if end < len(self.buffer):
                break
        return taken


def _dashed(aggregate_id: bytes) -> bytes:
    i = aggregate_id
    return b"%b-%b-%b-%b-%b" % (i[:8], i[8:12], i[12:16], i[16:20], i[20:]) if len(i) == 32 else i


@dataclass(slots=True)
class _Legacy:
    """The audit projection's old per-event chain, recomputed from the stored bytes, looking for ``head``."""

    store: LedgerStore
    head: bytes
    previous: bytes = GENESIS
    found_at: int | None = None

    def feed(self, e: RawEvent) -> None:
        state = e[4] or b""
        try:
            plain = self.store._plain(state)
        except Exception:  # a tampered ciphertext: hash what is there
            plain = state
        self.previous = legacy_hash(self.previous, e[0], _dashed(e[1] or b""), e[2] or b"", e[3] or b"", plain)
        if self.found_at is None and self.previous == self.head:
            self.found_at = e[0]


@dataclass(slots=True)
class _Verification:
    findings: list[Finding] = field(default_factory=list)
    checked: int = 0
    chained: int = 0
    batches: int = 0
    upgrades: list[dict[str, Any]] = field(default_factory=list)

    def add(self, position: int, problem: str, last: int | None = None) -> None:
        previous = self.findings[-1] if self.findings else None
        if (last is None and previous is not None and previous.problem == problem
                and (previous.last or previous.position) == position - 1):
            self.findings[-1] = Finding(previous.position, problem, position)  # one more of the same run
            return
        self.findings.append(Finding(position, problem, last))


UNCHAINED = "not in the chain (inserted, or the chain row that linked it was removed)"
REMOVED = "linked in the chain but missing from the event store (removed)"
EDITED = "the stored event no longer matches its leaf in the chain (edited)"


def parse_head(head: str | None) -> bytes | None:
    if head is None:
        return None
    try:
        digest = bytes.fromhex(head)
    except ValueError:
        digest = b""
    if len(digest) != HASH_BYTES:
        raise InvalidInput("head", "must be the 64 hexadecimal digits `jamsos audit seal` printed")
    return digest


def verify(store: LedgerStore, head: str | None = None) -> dict[str, Any]:
    """Check every stored event against the chain and the chain against itself (and a sealed ``head``)."""
    sealed = parse_head(head)
    sealed_batch = store.chain_batch_of(sealed) if sealed is not None else None
    legacy = _Legacy(store, sealed) if sealed is not None and sealed_batch is None else None
    events: _Live[RawEvent] = _Live(store.raw_events, lambda e: e[0], EVENT_PAGE)
    rows: _Live[ChainRow] = _Live(lambda after, n: store.chain_rows(after, n), lambda r: r.batch, CHAIN_PAGE)
    v = _Verification()
    prev: ChainRow | None = None
    covered = 0  # the highest position any chain row so far holds
    for row in _rows_with_unchained_between(rows, events, v, legacy):
        _check_link(v, prev, row)
        covered = max(covered, _check_events(v, row, events, covered, legacy))
        prev = row
    if prev is not None:
        head_row = {"batch": prev.batch, "position": prev.last_position, "hash": prev.hash.hex()}
    else:
        head_row = {"batch": 0, "position": 0, "hash": GENESIS.hex()}
    sealed_result = None
    if sealed is not None:
        if sealed_batch is not None:
            sealed_result = {"hash": head, "chain": "write-time", "batch": sealed_batch}
        elif legacy is not None and legacy.found_at is not None:
            sealed_result = {"hash": head, "chain": "audit projection (before the write-time chain)",
                             "position": legacy.found_at}
        else:
            v.add(max(prev.last_position if prev else 0, events.after),
                  f"the sealed head {head} is not in the chain, nor in the audit projection's former chain "
                  "recomputed from the stored events (history rewritten)")
    findings = sorted(v.findings, key=lambda f: f.position)
    return {
        "ok": not findings,
        "checked": v.checked,
        "chained": v.chained,
        "batches": v.batches,
        "head": head_row,
        "head_position": head_row["position"],
        "head_hash": head_row["hash"],
        "sealed": sealed_result,
        "upgrades": v.upgrades,
        "findings": [str(f) for f in findings],
        "first_problem": str(findings[0]) if findings else None,
        "first_position": findings[0].position if findings else None,
    }


def _rows_with_unchained_between(rows: _Live[ChainRow], events: _Live[RawEvent], v: _Verification,
                                 legacy: _Legacy | None) -> Iterator[ChainRow]:
    """Each chain row in order; events before the next row (or after the last one) are reported unchained,
    but only once the chain was read again after those events were (a write committing meanwhile is not
    an insertion)."""
    while True:
        row = rows.peek()
        if row is not None:
            yield rows.pop()
            continue
        ev = events.peek()
        if ev is None:
            return
        read = events.reads
        if rows.peek() is not None:  # the chain, read again after the event: a write committed meanwhile
            continue
        while (ev := events.peek()) is not None and events.reads == read:
            events.pop()
            v.checked += 1
            if legacy is not None:
                legacy.feed(ev)
            v.add(ev[0], UNCHAINED)


def _check_link(v: _Verification, prev: ChainRow | None, row: ChainRow) -> None:
    v.batches += 1
    at = row.first_position
    if row.expected_hash != row.hash:
        v.add(at, f"batch {row.batch}: the chain row's content no longer gives its hash (chain row edited)", at)
    expected = prev.batch + 1 if prev else 1
    if row.batch != expected:
        one = row.batch == expected + 1
        gone = f"batch {expected}" if one else f"batches {expected}..{row.batch - 1}"
        start = prev.last_position + 1 if prev else 1
        v.add(start, f"{gone} removed from the chain (the events {'it' if one else 'they'} linked show as not in "
                     "the chain)", start)
    elif row.previous != (prev.hash if prev else GENESIS):
        v.add(at, f"batch {row.batch} does not follow batch {expected - 1} (an earlier chain row was rewritten)", at)
    if prev is not None and row.first_position <= prev.last_position:
        v.add(at, f"batch {row.batch} overlaps batch {prev.batch} (positions {row.first_position}.."
                  f"{prev.last_position})", at)
    if row.kind not in KINDS:
        v.add(at, f"batch {row.batch}: unknown kind {row.kind!r}", at)
    if row.kind == KIND_UPGRADE:
        if prev is not None and prev.kind == KIND_WRITE:
            v.add(at, f"batch {row.batch}: an upgrade link after the chain had started (events re-linked)", at)
        last = v.upgrades[-1] if v.upgrades else None
        if last is not None and last["at"] == row.recorded_at and last["last_batch"] == row.batch - 1:
            last.update(last_batch=row.batch, last_position=row.last_position,
                        events=last["events"] + row.event_count)
        else:
            v.upgrades.append({"first_batch": row.batch, "last_batch": row.batch, "first_position": row.first_position,
                               "last_position": row.last_position, "events": row.event_count,
                               "at": row.recorded_at})


def _check_events(v: _Verification, row: ChainRow, events: _Live[RawEvent], covered: int,
                  legacy: _Legacy | None) -> int:
    """The events of ``row``'s range against its leaves; returns the highest position ``row`` holds."""
    first, last = row.first_position, row.last_position
    well_formed = (last >= first and row.event_count == last - first + 1
                   and len(row.leaves) == HASH_BYTES * row.event_count and len(row.root) == HASH_BYTES)
    if not well_formed:
        v.add(first, f"batch {row.batch}: malformed chain row ({row.event_count} events for positions "
                     f"{first}..{last}, {len(row.leaves)} bytes of leaves)", first)
    while (ev := events.peek()) is not None and ev[0] < first:  # before this row, after the previous one
        events.pop()
        v.checked += 1
        if legacy is not None:
            legacy.feed(ev)
        if ev[0] > covered:
            v.add(ev[0], UNCHAINED)
    expected = max(first, covered + 1)
    held = events.take_through(last)
    v.checked += len(held)
    for ev in held:
        if legacy is not None:
            legacy.feed(ev)
        position = ev[0]
        if position > expected:
            v.add(expected, REMOVED, position - 1)
        expected = position + 1
    recomputed = [leaf_hash(*ev) for ev in held]
    if well_formed:
        if len(held) == row.event_count and b"".join(recomputed) == row.leaves:  # every event, each its leaf
            v.chained += len(held)
        else:
            for ev, leaf in zip(held, recomputed, strict=True):
                if leaf == row.leaf_at(ev[0]):
                    v.chained += 1
                else:
                    v.add(ev[0], EDITED)
    if expected <= last:
        v.add(expected, REMOVED, last)
    if well_formed and merkle_root(split_leaves(row.leaves)) != row.root:
        if len(recomputed) == row.event_count and merkle_root(recomputed) == row.root:
            for i, leaf in enumerate(split_leaves(row.leaves)):
                if leaf != recomputed[i]:
                    v.add(first + i, f"batch {row.batch}: the leaf hash stored for this event was edited "
                                     "(the event itself matches the batch's Merkle root)")
        else:
            v.add(first, f"batch {row.batch}: its leaf hashes no longer give its Merkle root (an event and its "
                         "leaf edited together, or the leaves edited)", last)
    return last


def seal(store: LedgerStore) -> dict[str, Any]:
    """The chain's head, to keep outside the system (a report, a letter): ``verify --head`` checks against it."""
    row = store.chain_head()
    if row is None:
        return {"batch": 0, "position": 0, "hash": GENESIS.hex(), "recorded_at": None}
    return {"batch": row.batch, "position": row.last_position, "hash": row.hash.hex(), "recorded_at": row.recorded_at}


def prove(store: LedgerStore, position: int, head: str | None = None) -> dict[str, Any]:
    """An inclusion proof of the event at ``position``: its identity and state digest, its leaf, the Merkle
    path to its batch's root, and the chain links from that batch to the head (or to the sealed ``head``).
    :func:`eventstore.chain.check_proof` checks it without the store."""
    if not 1 <= position <= POSITION_MAX:
        raise InvalidInput("position", f"must be a position of the log (1 to {POSITION_MAX})")
    sealed = parse_head(head)
    row = store.chain_row_at(position)
    if row is None:
        raise NotFound("position", f"no chain row holds position {position}")
    ev = store.raw_event(position)
    if ev is None:
        raise ChainBroken("audit", f"position {position}: {REMOVED}")
    leaves = split_leaves(row.leaves)
    leaf = raw_leaf(ev)
    if leaf != row.leaf_at(position):
        raise ChainBroken("audit", f"position {position}: {EDITED}")
    if merkle_root(leaves) != row.root:
        raise ChainBroken("audit", f"position {position}: batch {row.batch}'s leaf hashes no longer give its root")
    until = store.chain_batch_of(sealed) if sealed is not None else None
    if sealed is not None and (until is None or until < row.batch):
        raise ChainBroken("head", f"the sealed head {head} is not in the chain at or after batch {row.batch}")
    links = [row.link()]
    after = row.batch
    while until is None or after < until:
        page = store.chain_rows(after, 1000, leaves=False)
        page = [r for r in page if until is None or r.batch <= until]
        if not page:
            break
        links += [r.link() for r in page]
        after = page[-1].batch
    aggregate_id, version, topic, state = ev[1] or b"", ev[2] or b"", ev[3] or b"", ev[4]
    return {
        "event": {"position": position, "aggregate_id": aggregate_id.decode(),
                  "version": int(version) if version.isdigit() else version.decode(), "topic": topic.decode(),
                  "state_sha256": None if state is None else hashlib.sha256(state).hexdigest()},
        "leaf": leaf.hex(),
        "batch": row.batch,
        "index": position - row.first_position,
        "path": [p.hex() for p in inclusion_path(leaves, position - row.first_position)],
        "links": links,
        "head": {"batch": links[-1]["batch"], "position": links[-1]["last_position"], "hash": links[-1]["hash"]},
    }

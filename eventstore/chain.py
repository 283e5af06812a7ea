"""The audit chain of record: every event is linked into a hash chain **in the transaction that writes it**.

Per committed write (a batch of events with contiguous positions ``first..last``):

* each event's leaf ``SHA-256(0x00 || LEAF_TAG || netstrings of position, aggregate id (32 hex digits),
  version, topic, SHA-256(stored state))`` — over the bytes exactly as stored (after the app-wide
  cipher/compressor, if any), never decoded; a proof can then carry the state's digest instead of the state;
* the batch's Merkle root over its leaves, in position order (RFC 6962 §2.1: interior nodes
  ``SHA-256(0x01 || left || right)``, the tree split at the largest power of two below the size);
* one chain row: ``h_b = SHA-256(LINK_TAG || h_{b-1} || batch || first || last || count || kind ||
  recorded_at || root)``, ``h_0`` 32 zero bytes. The row keeps its leaves (32 bytes each), so an edited
  event is named by position; the root commits to the leaves, so edited leaves are detected too.

``kind`` is ``write`` for a batch linked when it was written, ``upgrade`` for the one-time linking of events
a store held before this chain existed (they were never protected before that moment, and the chain says so).

Everything here is pure (no I/O): the stores write and read the rows, ``projections.chain_audit`` verifies.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ledger.errors import LedgerError

GENESIS = bytes(32)
HASH_BYTES = 32
CHAIN_TABLE = "jamsos_chain"
KIND_WRITE = "write"
KIND_UPGRADE = "upgrade"
KINDS = (KIND_WRITE, KIND_UPGRADE)
UPGRADE_BATCH_MAX = 10_000
"""Events per chain row when the one-time upgrade links a store written before the chain."""
LEAF_TAG = b"\x00jamsos-event-1\n"
LINK_TAG = b"jamsos-chain-1\n"
NODE_PREFIX = b"\x01"

RawEvent = tuple[int, "bytes | None", "bytes | None", "bytes | None", "bytes | None"]
"""One stored event as bytes, as the verifier reads it: position, aggregate id (32 hex digits), version
(decimal text), topic, state; ``None`` where the column is NULL (only a tampered row has one)."""


class ChainBroken(LedgerError):
    """The store no longer matches its chain (``jamsos`` exits 7); the reason names the position."""

    code = "audit_chain_broken"
    exit_code = 7


class ChainError(RuntimeError):
    """A write could not be linked (its positions are not what the chain would record): nothing is written."""


class InvalidProof(ValueError):
    """An inclusion proof that does not prove what it claims; the message says which step fails."""


def _netstring(value: bytes | None) -> bytes:
    return b"-," if value is None else b"%d:%b," % (len(value), value)


def leaf_hash(position: int, aggregate_id: bytes | None, version: bytes | None, topic: bytes | None,
              state: bytes | None) -> bytes:
    """The leaf of one stored event: its identity and the digest of its stored bytes, unambiguously framed
    (:func:`leaf_from_digest`; a whole row formatted at once when no column is missing, the hot path of
    ``jamsos audit verify``, which hashes every stored event)."""
    if aggregate_id is None or version is None or topic is None or state is None:
        return leaf_from_digest(position, aggregate_id, version, topic,
                                None if state is None else hashlib.sha256(state).digest())
    p = b"%d" % position
    return hashlib.sha256(b"%b%d:%b,%d:%b,%d:%b,%d:%b,32:%b," % (
        LEAF_TAG, len(p), p, len(aggregate_id), aggregate_id, len(version), version, len(topic), topic,
        hashlib.sha256(state).digest())).digest()


def leaf_from_digest(position: int, aggregate_id: bytes | None, version: bytes | None, topic: bytes | None,
                     state_digest: bytes | None) -> bytes:
    return hashlib.sha256(LEAF_TAG + _netstring(b"%d" % position) + _netstring(aggregate_id) + _netstring(version)
                          + _netstring(topic) + _netstring(state_digest)).digest()


def raw_leaf(event: RawEvent) -> bytes:
    return leaf_hash(*event)


def write_leaves(first: int, events: Sequence[tuple[uuid.UUID, int, str, bytes]]) -> bytes:
    """The concatenated leaves of events about to be stored at positions ``first, first+1, ...`` (rows of
    (id, version, topic, stored state), the form the write path has): the hot path of every write, equal to
    :func:`leaf_hash` of each. A state shared by many events (the bulk paths copy one decision's bytes to
    every member in the same situation) is digested once."""
    sha = hashlib.sha256
    topics: dict[str, bytes] = {}
    digests: dict[int, bytes] = {}  # by id(): every state object stays alive in ``events`` meanwhile
    out = []
    for position, (aggregate_id, version, topic, state) in enumerate(events, start=first):
        t = topics.get(topic)
        if t is None:
            t = topics[topic] = _netstring(topic.encode())
        d = digests.get(id(state))
        if d is None:
            d = digests[id(state)] = sha(state).digest()
        p = b"%d" % position
        v = b"%d" % version
        out.append(sha(b"%b%d:%b,32:%b,%d:%b,%b32:%b," % (LEAF_TAG, len(p), p, aggregate_id.hex.encode(), len(v), v,
                                                          t, d)).digest())
    return b"".join(out)


def split_leaves(leaves: bytes) -> list[bytes]:
    return [leaves[i : i + HASH_BYTES] for i in range(0, len(leaves), HASH_BYTES)]


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    """RFC 6962 Merkle tree hash over leaf hashes (bottom-up: an odd node at the end of a level moves up
    unchanged, which gives the RFC's split at the largest power of two)."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    sha = hashlib.sha256
    level = list(leaves)
    while len(level) > 1:
        nxt = [sha(NODE_PREFIX + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def inclusion_path(leaves: Sequence[bytes], index: int) -> list[bytes]:
    """RFC 6962 §2.1.1 audit path of leaf ``index``: the sibling hashes from the leaf up to the root."""
    assert 0 <= index < len(leaves), (index, len(leaves))
    if len(leaves) == 1:
        return []
    k = 1 << ((len(leaves) - 1).bit_length() - 1)  # the largest power of two below the size
    if index < k:
        return [*inclusion_path(leaves[:k], index), merkle_root(leaves[k:])]
    return [*inclusion_path(leaves[k:], index - k), merkle_root(leaves[:k])]


def root_from_path(leaf: bytes, index: int, size: int, path: Sequence[bytes]) -> bytes:
    """The root an audit path leads to (RFC 9162 §2.1.3.2); raises :class:`InvalidProof` if the path's
    length cannot belong to that index and size."""
    if not 0 <= index < size:
        raise InvalidProof(f"leaf index {index} is outside a tree of {size}")
    fn, sn, r = index, size - 1, leaf
    sha = hashlib.sha256
    for p in path:
        if sn == 0:
            raise InvalidProof("the path is longer than the tree is deep")
        if fn & 1 or fn == sn:
            r = sha(NODE_PREFIX + p + r).digest()
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = sha(NODE_PREFIX + r + p).digest()
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise InvalidProof("the path is shorter than the tree is deep")
    return r


def link_hash(previous: bytes, batch: int, first: int, last: int, count: int, kind: str, recorded_at: str,
              root: bytes) -> bytes:
    return hashlib.sha256(LINK_TAG + previous + b"%d,%d,%d,%d," % (batch, first, last, count)
                          + _netstring(kind.encode("utf-8", "surrogateescape"))
                          + _netstring(recorded_at.encode("utf-8", "surrogateescape")) + root).digest()


@dataclass(frozen=True, slots=True)
class ChainRow:
    """One link: the events at positions ``first_position..last_position`` (``event_count`` of them, no
    hole), their leaves, the Merkle root over them, the previous link's hash and this link's hash.

    Invariants of a sound chain: batches number 1, 2, 3 ... without a gap; each ``previous`` is the hash
    of the batch before (``GENESIS`` for batch 1); position ranges increase and never overlap; every
    ``upgrade`` row comes before the first ``write`` row."""

    batch: int
    first_position: int
    last_position: int
    event_count: int
    kind: str
    recorded_at: str
    leaves: bytes
    root: bytes
    previous: bytes
    hash: bytes

    @property
    def expected_hash(self) -> bytes:
        """The hash this row's content gives (equal to ``hash`` unless the row was edited)."""
        return link_hash(self.previous, self.batch, self.first_position, self.last_position, self.event_count,
                         self.kind, self.recorded_at, self.root)

    def leaf_at(self, position: int) -> bytes:
        i = (position - self.first_position) * HASH_BYTES
        return self.leaves[i : i + HASH_BYTES]

    def params(self) -> tuple[int, int, int, int, str, str, bytes, bytes, bytes, bytes]:
        """Column values in table order."""
        return (self.batch, self.first_position, self.last_position, self.event_count, self.kind,
                self.recorded_at, self.leaves, self.root, self.previous, self.hash)

    def link(self) -> dict[str, Any]:
        """The row without its leaves, as a proof carries it."""
        return {"batch": self.batch, "first_position": self.first_position, "last_position": self.last_position,
                "event_count": self.event_count, "kind": self.kind, "recorded_at": self.recorded_at,
                "root": self.root.hex(), "previous": self.previous.hex(), "hash": self.hash.hex()}


CHAIN_COLUMNS = ("batch", "first_position", "last_position", "event_count", "kind", "recorded_at", "leaves",
                 "root", "previous", "hash")


def next_row(head: tuple[int, bytes] | None, first: int, leaves: bytes, kind: str, recorded_at: str) -> ChainRow:
    """The row that links ``leaves`` (positions ``first``...) after ``head`` = (batch, hash) or the genesis."""
    count = len(leaves) // HASH_BYTES
    assert count and len(leaves) == count * HASH_BYTES
    batch, previous = (head[0] + 1, head[1]) if head else (1, GENESIS)
    root = merkle_root(split_leaves(leaves))
    last = first + count - 1
    return ChainRow(batch, first, last, count, kind, recorded_at, leaves, root, previous,
                    link_hash(previous, batch, first, last, count, kind, recorded_at, root))


def runs(positions: Sequence[int], limit: int = UPGRADE_BATCH_MAX) -> list[tuple[int, int]]:
    """Index ranges [start, end) of ``positions`` (increasing) that are contiguous and at most ``limit`` long."""
    out = []
    start = 0
    for i in range(1, len(positions) + 1):
        if i == len(positions) or positions[i] != positions[i - 1] + 1 or i - start == limit:
            out.append((start, i))
            start = i
    return out


def legacy_hash(previous: bytes, position: int, aggregate_id: bytes, version: bytes, topic: bytes,
                plain_state: bytes) -> bytes:
    """The audit projection's per-event chain before the write-time chain (heads sealed with it still verify):
    ``SHA-256(h_prev || position || aggregate id || version || event type || canonical state)``."""
    event_type = topic.rsplit(b":", 1)[-1]
    return hashlib.sha256(previous + b"%d\x1f%b\x1f%b\x1f%b\x1f" % (position, aggregate_id, version, event_type)
                          + plain_state).digest()


# --- inclusion proofs ---------------------------------------------------------------------------------


def _hex(value: Any, what: str, size: int | None = HASH_BYTES) -> bytes:
    try:
        raw = bytes.fromhex(value)
    except (TypeError, ValueError):
        raise InvalidProof(f"{what} is not hexadecimal") from None
    if size is not None and len(raw) != size:
        raise InvalidProof(f"{what} is not {size} bytes")
    return raw


def _int(value: Any, what: str) -> int:
    if type(value) is not int:
        raise InvalidProof(f"{what} is not an integer")
    return value


def check_proof(proof: Mapping[str, Any], head: str | None = None, state: bytes | None = None) -> dict[str, Any]:
    """Check an inclusion proof (``jamsos audit prove``) without the store: the event's identity and state
    digest give its leaf (and ``state``, the event's stored bytes when the auditor has them, gives that
    digest), the Merkle path leads from the leaf to its batch's root, each link's hash follows from the one
    before, and the last link is the proof's head (and ``head``, a hash sealed earlier, when given). Returns
    what it proved; raises :class:`InvalidProof` naming the failing step."""
    try:
        event = proof["event"]
        position = _int(event["position"], "event position")
        identity = [None if event[k] is None else str(event[k]).encode() for k in ("aggregate_id", "version", "topic")]
        digest = None if event["state_sha256"] is None else _hex(event["state_sha256"], "state digest")
        if state is not None and hashlib.sha256(state).digest() != digest:
            raise InvalidProof("the event's stored bytes do not give the proof's state digest")
        leaf = leaf_from_digest(position, identity[0], identity[1], identity[2], digest)
        if leaf != _hex(proof["leaf"], "leaf"):
            raise InvalidProof("the event's identity and digest do not give the proof's leaf")
        links = proof["links"]
        if not isinstance(links, list) or not links:
            raise InvalidProof("the proof has no chain links")
        first = links[0]
        index = position - _int(first["first_position"], "batch first position")
        size = _int(first["event_count"], "batch event count")
        path = [_hex(p, "path hash") for p in proof["path"]]
        if root_from_path(leaf, index, size, path) != _hex(first["root"], "batch root"):
            raise InvalidProof("the Merkle path does not lead to the batch's root")
        previous = _hex(first["previous"], "previous hash")
        for n, link in enumerate(links):
            if n and _hex(link["previous"], "previous hash") != previous:
                raise InvalidProof(f"batch {link['batch']} does not follow batch {links[n - 1]['batch']}")
            batch, low, high, count = (_int(link[k], k) for k in ("batch", "first_position", "last_position",
                                                                 "event_count"))
            if n and batch != links[n - 1]["batch"] + 1:
                raise InvalidProof(f"batch {batch} does not follow batch {links[n - 1]['batch']}")
            if count != high - low + 1:
                raise InvalidProof(f"batch {batch}: its count does not match its positions")
            computed = link_hash(previous, batch, low, high, count, str(link["kind"]), str(link["recorded_at"]),
                                 _hex(link["root"], "batch root"))
            if computed != _hex(link["hash"], "link hash"):
                raise InvalidProof(f"batch {batch}: its hash does not follow from its content")
            previous = computed
        if previous != _hex(proof["head"]["hash"], "head hash"):
            raise InvalidProof("the last link is not the proof's head")
        if head is not None and previous != _hex(head, "sealed head"):
            raise InvalidProof("the proof does not end at the sealed head")
    except (KeyError, TypeError, AttributeError) as exc:
        raise InvalidProof(f"malformed proof ({type(exc).__name__}: {exc})") from None
    return {"ok": True, "position": position, "batch": first["batch"], "head_batch": links[-1]["batch"],
            "head": previous.hex()}

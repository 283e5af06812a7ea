"""How an event's canonical JSON is stored: packed (zstd with a fixed, trained dictionary) for new events,
as plain JSON for the events written before packing existed. Pure: no I/O beyond reading the dictionary file
that ships beside this module.

A stored state's first byte names its encoding, so both kinds live side by side and nothing is ever rewritten:

* ``{`` (0x7B) — plain canonical JSON, as every event before this module was stored; read as it is.
* ``0x01`` — ``0x01`` followed by a magic-less zstd frame of the canonical JSON, compressed with
  dictionary 1 (``state_dictionary_1.zdict``, :data:`DICTIONARY_1_SHA256`). The frame records the content
  size; no checksum (the audit chain hashes the stored bytes, which is stronger).

Invariants:
- ``unpack(pack(json)) == json`` for every canonical JSON object (tested over random ones).
- ``pack`` is deterministic within one zstd build: the bulk paths copy one member's packed bytes to the others
  in the same situation (:mod:`commands.bulk`), and ``tests/test_bulk_equivalence.py`` checks they equal what
  the member-by-member path packs.
- A dictionary, once an encoding byte names it, never changes (its digest is checked when it is loaded); a
  better dictionary is a new encoding byte beside the old one, and old events keep reading through theirs.
- The audit chain hashes the stored (packed) bytes, never the unpacked JSON: verifying needs no decoding.

Why zstd with a dictionary: a ledger event is 200–700 bytes of JSON whose keys, enum values and timestamp
shapes repeat in every event; a dictionary trained on the demo log lets a lone event compress as if it sat in
a stream of its kind (a contribution payment: ~470 → ~70 bytes), at ~2 µs to pack and ~1–2 µs to unpack.
zlib with a preset dictionary packs to a similar size but at 15–50 µs per event; stdlib has no zstd before
Python 3.14.
"""

from __future__ import annotations

import hashlib
import threading
from functools import cache
from pathlib import Path
from typing import Any

PLAIN_MARK = 0x7B
"""``{``: a plain JSON state (every event stored before packing)."""
PACKED_1_MARK = 0x01
PACKED_1_PREFIX = bytes([PACKED_1_MARK])
DICTIONARY_1_PATH = Path(__file__).with_name("state_dictionary_1.zdict")
DICTIONARY_1_SHA256 = "b53b222db4aaa8fa1ca6281453fc5d6ec5cb603239224ef1e78e786befecd059"
PACK_LEVEL = 3
"""zstd level for new events: 9 packs ~6 % smaller at 4–5 × the time."""
STATE_BYTES_MAX = 16 * 1024 * 1024
"""The largest unpacked state accepted (a guard against a tampered frame claiming gigabytes)."""


class StateEncodingError(ValueError):
    """A stored state in no encoding this module knows, or a packed one that does not unpack."""


@cache
def _dictionary_1() -> bytes:
    """Dictionary 1's bytes, read once and checked against its pinned digest."""
    data = DICTIONARY_1_PATH.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != DICTIONARY_1_SHA256:
        raise StateEncodingError(f"{DICTIONARY_1_PATH.name}: digest {digest} is not dictionary 1's")
    return data


_per_thread = threading.local()
"""A zstd compressor or decompressor must not be used by two threads at once (python-zstandard's rule; the HTTP
face writes from a pool of threads): each thread gets its own pair."""


def _codec() -> tuple[Any, Any]:
    pair: tuple[Any, Any] | None = getattr(_per_thread, "pair", None)
    if pair is not None:
        return pair
    import zstandard  # a C extension: imported on the first packed state, not by every CLI start

    dictionary = zstandard.ZstdCompressionDict(_dictionary_1(), dict_type=zstandard.DICT_TYPE_FULLDICT)
    packer_params = zstandard.ZstdCompressionParameters.from_level(
        PACK_LEVEL, format=zstandard.FORMAT_ZSTD1_MAGICLESS, write_checksum=0, write_content_size=1,
        write_dict_id=0)
    packer = zstandard.ZstdCompressor(dict_data=dictionary, compression_params=packer_params)
    unpacker = zstandard.ZstdDecompressor(dict_data=dictionary, format=zstandard.FORMAT_ZSTD1_MAGICLESS,
                                          max_window_size=1 << 20)
    _per_thread.pair = (packer, unpacker)
    return packer, unpacker


def pack(plain: bytes) -> bytes:
    """The stored form of a new event's canonical JSON ``plain`` (encoding 1)."""
    assert plain[:1] == b"{", plain[:16]
    packer, _ = _codec()
    packed: bytes = PACKED_1_PREFIX + packer.compress(plain)
    return packed


def unpack(stored: bytes) -> bytes:
    """The canonical JSON of a stored state in any known encoding (plain JSON is returned as it is)."""
    if not stored:
        raise StateEncodingError("empty stored state")
    mark = stored[0]
    if mark == PLAIN_MARK:
        return stored
    if mark != PACKED_1_MARK:
        raise StateEncodingError(f"unknown state encoding byte 0x{mark:02x}")
    _, unpacker = _codec()
    try:
        plain: bytes = unpacker.decompress(stored[1:], max_output_size=STATE_BYTES_MAX)
    except Exception as err:  # zstandard.ZstdError: a damaged frame
        raise StateEncodingError(f"packed state does not unpack: {err}") from err
    if plain[:1] != b"{":
        raise StateEncodingError("packed state does not hold a JSON object")
    return plain


def train(samples: list[bytes | bytearray | memoryview], size_bytes: int = 16 * 1024) -> bytes:
    """A zstd dictionary of ``size_bytes`` trained on ``samples`` (canonical JSON states). How dictionary 1 was
    made (from the demo log, ``python -m eventstore.state_codec demo/jamsos.db``); never re-run to replace it."""
    import zstandard

    return bytes(zstandard.train_dictionary(size_bytes, samples).as_bytes())


def main(argv: list[str] | None = None) -> None:  # pragma: no cover - run by hand, once per new dictionary
    import argparse
    import sqlite3

    parser = argparse.ArgumentParser(description="train a state dictionary on a SQLite store's plain states")
    parser.add_argument("store", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--size", type=int, default=16 * 1024)
    args = parser.parse_args(argv)
    with sqlite3.connect(f"file:{args.store}?mode=ro", uri=True) as conn:
        rows = conn.execute("SELECT state FROM stored_events ORDER BY rowid")
        samples: list[bytes | bytearray | memoryview] = [bytes(s) for (s,) in rows if bytes(s)[:1] == b"{"]
    data = train(samples, args.size)
    args.out.write_bytes(data)
    print(f"{args.out}: {len(data)} bytes from {len(samples)} states, sha256 {hashlib.sha256(data).hexdigest()}")


if __name__ == "__main__":  # pragma: no cover
    main()

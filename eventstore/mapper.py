"""Maps pydantic ledger events to the library's stored events and back, with upcasting.

An event's canonical state is its JSON (pydantic's ``model_dump_json``) without the two columns the recorder
keeps (originator id and version), plus ``class_version`` when above 1. It is stored packed
(:mod:`eventstore.state_codec`: one encoding byte, then zstd with a fixed dictionary); events stored before
packing existed hold the plain JSON, and read as they are. The bulk paths copy the stored bytes between members
in the same situation (see :func:`commands.bulk.outcomes_by_state`); ``tests/test_bulk_equivalence.py`` proves
that changes nothing.
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson
from eventsourcing.persistence import Mapper, StoredEvent, Transcoder, Transcoding
from eventsourcing.utils import get_topic, resolve_topic

from eventstore.state_codec import pack, unpack
from ledger.events import LedgerEvent

_EXCLUDE = {"originator_id", "originator_version"}


class JsonBytesTranscoder(Transcoder):
    """orjson both ways; pydantic does the typing, so no transcodings are registered."""

    def encode(self, obj: Any) -> bytes:
        return orjson.dumps(obj)

    def decode(self, data: bytes) -> Any:
        return orjson.loads(data)

    def register(self, transcoding: Transcoding) -> None:  # pragma: no cover
        raise NotImplementedError("ledger events are pydantic models; no transcodings")


def encode_state(event: LedgerEvent) -> bytes:
    """The canonical JSON state of an event (stored packed: :func:`stored_state`)."""
    state = event.model_dump_json(exclude=_EXCLUDE).encode()
    version = type(event).class_version
    if version > 1:
        state = state[:-1] + b',"class_version":' + str(version).encode() + b"}"
    return state


def stored_state(event: LedgerEvent) -> bytes:
    """The bytes a new event is stored as before any app-wide compressor or cipher (and that, after them, the
    audit chain hashes): its canonical JSON, packed."""
    return pack(encode_state(event))


def upcast_data(cls: type[LedgerEvent], data: dict[str, Any]) -> dict[str, Any]:
    """An event's stored JSON in the shape of its class's current version (``upcast_vN_vN1`` in turn, with
    ``class_version`` set to it when above 1); the projections and the relay read the log as JSON through this
    too, so they see one shape per event type."""
    stored_version = int(data.get("class_version", 1))
    if stored_version >= cls.class_version:
        return data
    while stored_version < cls.class_version:
        upcast = getattr(cls, f"upcast_v{stored_version}_v{stored_version + 1}")
        data = upcast(data)
        stored_version += 1
    return {**data, "class_version": stored_version}


def decode_state(topic: str, originator_id: uuid.UUID | str, version: int, state: bytes) -> LedgerEvent:
    """Stored state → event, running ``upcast_vN_vN1`` static methods up to the class's version."""
    cls: type[LedgerEvent] = resolve_topic(topic)
    data = upcast_data(cls, orjson.loads(state))
    data.pop("class_version", None)
    data["originator_id"] = originator_id
    data["originator_version"] = version
    return cls.model_validate(data)


class PydanticMapper(Mapper[uuid.UUID]):
    """The library's mapper contract, for pydantic events (compression and cipher still apply)."""

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        state = stored_state(domain_event)
        if self.compressor:
            state = self.compressor.compress(state)
        if self.cipher:
            state = self.cipher.encrypt(state)
        return StoredEvent(
            originator_id=domain_event.originator_id,
            originator_version=domain_event.originator_version,
            topic=get_topic(type(domain_event)),
            state=state,
        )

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        return decode_state(stored_event.topic, stored_event.originator_id, stored_event.originator_version,
                            self.plain_state(stored_event.state))

    def plain_state(self, state: bytes) -> bytes:
        """The canonical JSON of a stored state (undoing the app-wide cipher/compressor if set, then the
        packing; a state stored before packing existed is its JSON already)."""
        if self.cipher:
            state = self.cipher.decrypt(state)
        if self.compressor:
            state = self.compressor.decompress(state)
        return unpack(state)

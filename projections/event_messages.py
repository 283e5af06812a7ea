"""The pseudonymous event message: what the relay publishes and the HTTP event feed serves, one per stored event.

A versioned pydantic model serialised as JSON. Consumers must ignore fields they do not know (new optional fields
may be added within a schema version); a breaking change bumps ``schema_version``. Sealed personal data and
credentials never leave the store (``SEALED_KEYS``, ``CREDENTIAL_FIELDS``).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from functools import cache
from typing import Any, Literal

import orjson
from eventsourcing.utils import resolve_topic
from pydantic import BaseModel, ConfigDict, Field

from eventstore.mapper import upcast_data
from ledger.events import LedgerEvent

PARTITIONS = 16
"""Routing-key / subject partitions of the event stream (by aggregate id). Changing it re-routes aggregates."""
NS_EVENT = uuid.UUID("6f1f4f0e-5a44-4f0c-9d0e-3b7a4c2d1e55")
"""Namespace of event ids: ``uuid5(NS_EVENT, f"{aggregate_id}/{aggregate_version}")`` — the same event always
has the same id, whichever relay publishes it and however often."""

PROVENANCE_FIELDS = frozenset({"timestamp", "recorded_at", "effective_on", "actor", "command_id", "class_version"})
"""Stored fields that the envelope carries itself (or that only the store needs): not repeated in the payload."""

SEALED_KEYS = frozenset({"key_id", "nonce_b64", "ciphertext_b64"})
"""The shape of :class:`ledger.identity.SealedPersonalData`; any payload value of this shape is dropped."""
CREDENTIAL_FIELDS = frozenset({"token_sha256", "password_argon2"})
"""A principal's token hash and password hash stay in the store: they are never published."""


class EventMessage(BaseModel):
    """One ledger event as published by the relay (schema version 1).

    Invariants:
    - ``position`` is the event's global position in the ledger's log: strictly increasing in publication order,
      with possible holes (never assume ``position == previous + 1``). A consumer that has applied position P can
      drop any message with ``position <= P`` as a redelivery.
    - ``aggregate_version`` counts 1, 2, 3... within ``aggregate_id`` (one member, claim or agreement); messages of
      one aggregate are published in that order, on one partition.
    - ``event_id`` is derived from (aggregate id, version): stable across redeliveries and relays.
    - No personal data: members appear only by pseudonymous id (``uuid5`` of a peppered HMAC of the NIK). The
      sealed personal fields of the store (``MemberEnrolled.personal``, ``ClaimSubmitted.sealed_details``: AES-GCM
      ciphertext under the member's own key) are **dropped**, not forwarded, and listed in ``dropped_fields``.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    schema_version: Literal[1] = 1
    type: str = Field(description="Event class name, e.g. MemberEnrolled, ContributionPaid.")
    position: int = Field(ge=1, description="Global position in the ledger's notification log.")
    event_id: uuid.UUID
    aggregate_id: uuid.UUID = Field(description="Pseudonymous id of the member, claim, agreement or reservation.")
    aggregate_version: int = Field(ge=1)
    partition: int = Field(ge=0, description="Partition (routing key / subject token) chosen from aggregate_id.")
    effective_on: date = Field(description="Business date of the fact.")
    recorded_at: datetime = Field(description="When the ledger recorded it (its own clock).")
    actor: str
    command_id: str
    payload: dict[str, Any] = Field(description="The event's own fields, without provenance or sealed data.")
    dropped_fields: list[str] = Field(default_factory=list, description="Sealed fields left out of the payload.")


def event_id_for(aggregate_id: uuid.UUID, version: int) -> uuid.UUID:
    return uuid.uuid5(NS_EVENT, f"{aggregate_id}/{version}")


def partition_for(aggregate_id: uuid.UUID, partitions: int) -> int:
    """Stable partition of an aggregate: all its events travel one route, so their order holds."""
    return aggregate_id.int % partitions


def _is_sealed(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == SEALED_KEYS


@cache
def _event_class(topic: str) -> type[LedgerEvent]:
    cls: type[LedgerEvent] = resolve_topic(topic)
    return cls


def event_message(
    position: int, aggregate_id: uuid.UUID, version: int, topic: str, plain_state: bytes, partitions: int
) -> EventMessage:
    """Build the published message from one stored event (its canonical JSON state). An event stored by an older
    class version is upcast first, so the payload always has the event class's current shape (the one the
    AsyncAPI document gives)."""
    data = upcast_data(_event_class(topic), orjson.loads(plain_state))
    data.pop("class_version", None)
    payload = {k: v for k, v in data.items()
               if k not in PROVENANCE_FIELDS and not _is_sealed(v) and k not in CREDENTIAL_FIELDS}
    dropped = sorted(k for k, v in data.items() if _is_sealed(v) or k in CREDENTIAL_FIELDS)
    return EventMessage(
        type=topic.rsplit(":", 1)[-1],
        position=position,
        event_id=event_id_for(aggregate_id, version),
        aggregate_id=aggregate_id,
        aggregate_version=version,
        partition=partition_for(aggregate_id, partitions),
        effective_on=date.fromisoformat(data["effective_on"]),
        recorded_at=datetime.fromisoformat(data["recorded_at"]),
        actor=data["actor"],
        command_id=data["command_id"],
        payload=payload,
        dropped_fields=dropped,
    )



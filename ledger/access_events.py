"""The event catalogue of principals and of reads of personal data (beside :mod:`ledger.events`, same rules).

Stored by topic ``ledger.access_events:ClassName``: never move or rename a class; a changed shape gets
``class_version`` and an upcast. No token is ever in an event: only its SHA-256.
"""

from __future__ import annotations

import uuid

from ledger.events import LedgerEvent
from ledger.values import Role


class PrincipalAdded(LedgerEvent):
    """An admin granted roles in a scope to a new principal; ``token_sha256`` is the hash of its first token."""

    name: str
    roles: list[Role]
    scope: str
    description: str
    token_sha256: str


class PrincipalTokenRotated(LedgerEvent):
    """The principal's token was replaced: the previous one no longer authenticates."""

    token_sha256: str


class PrincipalRevoked(LedgerEvent):
    """The principal may no longer act; its name is never reused."""

    reason: str


class PersonalDataRevealed(LedgerEvent):
    """A principal read a member's personal data in clear, for a stated purpose (UU 27/2022 accountability).

    One per reveal, in an :class:`AccessRecord` of its own; the hash chain of the log covers it like any event.
    """

    member_id: uuid.UUID
    purpose: str
    face: str

"""The event catalogue of principals and of reads of personal data (beside :mod:`ledger.events`, same rules).

Stored by topic ``ledger.access_events:ClassName``: never move or rename a class; a changed shape gets
``class_version`` and an upcast. No token is ever in an event: only its SHA-256; no password either: only its
argon2id hash.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import ClassVar

from ledger.events import LedgerEvent
from ledger.values import Role


class PrincipalAdded(LedgerEvent):
    """An admin granted roles in a scope to a new principal; ``token_sha256`` is the hash of its first token.

    v2 adds ``token_expires_on``: the last day the token authenticates (None: until rotated or revoked); a v1
    event reads as a token without an expiry."""

    class_version: ClassVar[int] = 2

    name: str
    roles: list[Role]
    scope: str
    description: str
    token_sha256: str
    token_expires_on: date | None

    @staticmethod
    def upcast_v1_v2(data: dict[str, object]) -> dict[str, object]:
        return {**data, "token_expires_on": None}


class PrincipalTokenRotated(LedgerEvent):
    """The principal's token was replaced: the previous one no longer authenticates.

    v2 adds ``token_expires_on`` (as :class:`PrincipalAdded`)."""

    class_version: ClassVar[int] = 2

    token_sha256: str
    token_expires_on: date | None

    @staticmethod
    def upcast_v1_v2(data: dict[str, object]) -> dict[str, object]:
        return {**data, "token_expires_on": None}


class PrincipalPasswordSet(LedgerEvent):
    """An admin set the principal's web password; only its argon2id hash is kept (PHC string,
    ``$argon2id$v=19$m=…,t=…,p=…$<salt>$<hash>``), never the password. It replaces any earlier one."""

    password_argon2: str


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

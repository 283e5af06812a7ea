"""Principals: the named users and services who may act on the ledger, their roles and their scope.

A principal (pengguna or layanan) is created by an admin with one or more :class:`Role` and one :class:`Scope`;
it authenticates with a secret token of which only a SHA-256 hash is kept (in its events, in the store's own
database) and, once an admin has set one, with a web password of which only an argon2id hash is kept. Every grant,
token rotation, password and revocation is an event, so "who could do what on 31 Jan" is an as-of question like
any other (docs/rules.md#principals).

Invariants:
- A principal's name is unique (its aggregate id is ``uuid5(NS_PRINCIPAL, name)``) and never reused, even after
  revocation.
- A revoked principal stays revoked: no rotation, no re-grant under the same name.
- Exactly one token hash is current; rotating replaces it (the old token stops working at once).
- At most one password hash is current; setting one replaces it; revocation clears it.
"""

from __future__ import annotations

import re
import uuid
from datetime import date

from pydantic import BaseModel

from ledger.access_events import (
    PersonalDataRevealed,
    PrincipalAdded,
    PrincipalPasswordSet,
    PrincipalRevoked,
    PrincipalTokenRotated,
)
from ledger.aggregate import Aggregate, CommandContext
from ledger.errors import AlreadyDone, InvalidInput, RuleViolation
from ledger.events import LedgerEvent
from ledger.scope import LOCAL_PREFIX as LOCAL_PREFIX  # re-exported, as the names below: ledger.scope is light
from ledger.scope import NAME_PATTERN as NAME_PATTERN
from ledger.scope import NS_PRINCIPAL as NS_PRINCIPAL
from ledger.scope import Scope as Scope
from ledger.scope import principal_id_for as principal_id_for
from ledger.scope import region_within as region_within
from ledger.scope import token_expired
from ledger.values import Role

TOKEN_SHA256_HEX_LEN = 64
ROLES_MAX = 7


def require_principal_name(name: str, field: str = "name") -> str:
    if not NAME_PATTERN.fullmatch(name):
        raise InvalidInput(field, "must be 2-64 characters: lower-case letters, digits and . _ @ -, "
                                  f"starting with a letter or digit; got {name!r}")
    return name


TOKEN_LIFETIME_DAYS_MAX = 400
"""The longest a token may be given to live (a year and a renewal month); a token without an expiry lives until it
is rotated or the principal revoked (docs/rules.md#principals)."""


def require_token_expiry(expires_on: date | None, on: date, field: str = "token_expires_on") -> date | None:
    """A token's last day: not before the day it is issued, at most :data:`TOKEN_LIFETIME_DAYS_MAX` after it."""
    if expires_on is None:
        return None
    if expires_on < on:
        raise InvalidInput(field, f"{expires_on} is before the day the token is issued ({on})")
    if (expires_on - on).days > TOKEN_LIFETIME_DAYS_MAX:
        raise InvalidInput(field, f"{expires_on} is more than {TOKEN_LIFETIME_DAYS_MAX} days after {on}")
    return expires_on


def require_token_sha256(value: str, field: str = "token_sha256") -> str:
    if not re.fullmatch(r"[0-9a-f]{64}", value):
        raise InvalidInput(field, "must be the SHA-256 of the token, 64 lower-case hex digits")
    return value


PASSWORD_ARGON2_LEN_MAX = 256
PASSWORD_ARGON2_PATTERN = re.compile(r"\$argon2id\$v=\d+\$m=\d+,t=\d+,p=\d+\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+")
"""An argon2id hash in the PHC string format, as ``argon2.PasswordHasher.hash`` writes it."""


def require_password_argon2(value: str, field: str = "password_argon2") -> str:
    if len(value) > PASSWORD_ARGON2_LEN_MAX or not PASSWORD_ARGON2_PATTERN.fullmatch(value):
        raise InvalidInput(field, "must be the argon2id hash of the password ($argon2id$v=…$m=…,t=…,p=…$salt$hash, "
                                  f"at most {PASSWORD_ARGON2_LEN_MAX} characters)")
    return value


# --- aggregates ---------------------------------------------------------------------------------------------------


class PrincipalState(BaseModel):
    name: str = ""
    roles: list[Role] = []
    scope: str = "all"
    description: str = ""
    token_sha256: str = ""
    token_expires_on: date | None = None
    password_argon2: str = ""
    added_on: date | None = None
    revoked_on: date | None = None


class Principal(Aggregate[PrincipalState]):
    """One principal's grants, token and password (see the module docstring for the invariants)."""

    state_type = PrincipalState

    @classmethod
    def add(cls, ctx: CommandContext, *, name: str, roles: list[Role], scope: Scope, description: str,
            token_sha256: str, on: date, existing: Principal, token_expires_on: date | None = None) -> Principal:
        require_principal_name(name)
        if existing.exists:
            state = "revoked" if existing.state.revoked_on else "active"
            raise AlreadyDone("name", f"principal {name} already exists ({state}); names are never reused")
        if not roles or len(roles) > ROLES_MAX or len(set(roles)) != len(roles):
            raise InvalidInput("role", f"give 1 to {ROLES_MAX} different roles")
        principal = cls(principal_id_for(name))
        principal._trigger(ctx, PrincipalAdded, on, name=name, roles=list(roles), scope=str(scope),
                           description=description, token_sha256=require_token_sha256(token_sha256),
                           token_expires_on=require_token_expiry(token_expires_on, on))
        return principal

    def rotate(self, ctx: CommandContext, token_sha256: str, on: date, token_expires_on: date | None = None) -> None:
        self._require_active("rotate the token of")
        self._trigger(ctx, PrincipalTokenRotated, on, token_sha256=require_token_sha256(token_sha256),
                      token_expires_on=require_token_expiry(token_expires_on, on))

    def set_password(self, ctx: CommandContext, password_argon2: str, on: date) -> None:
        """Replace the principal's web password by the one of this argon2id hash (made by the face)."""
        self._require_active("set the password of")
        self._trigger(ctx, PrincipalPasswordSet, on, password_argon2=require_password_argon2(password_argon2))

    def token_expired(self, today: date) -> bool:
        """Whether the current token's last day (``token_expires_on``) is before ``today``."""
        return token_expired(self.state.token_expires_on, today)

    def revoke(self, ctx: CommandContext, reason: str, on: date) -> None:
        self._require_active("revoke")
        self._trigger(ctx, PrincipalRevoked, on, reason=reason)

    @property
    def active(self) -> bool:
        return self.exists and self.state.revoked_on is None

    def _require_active(self, verb: str) -> None:
        if not self.exists:
            raise InvalidInput("name", "unknown principal")
        if self.state.revoked_on is not None:
            raise RuleViolation("name", f"cannot {verb} {self.state.name}: revoked on {self.state.revoked_on}")

    def apply(self, event: LedgerEvent) -> None:
        s = self.state
        if isinstance(event, PrincipalAdded):
            s.name, s.roles, s.scope = event.name, list(event.roles), event.scope
            s.description, s.token_sha256, s.added_on = event.description, event.token_sha256, event.effective_on
            s.token_expires_on = event.token_expires_on
        elif isinstance(event, PrincipalTokenRotated):
            s.token_sha256, s.token_expires_on = event.token_sha256, event.token_expires_on
        elif isinstance(event, PrincipalPasswordSet):
            s.password_argon2 = event.password_argon2
        elif isinstance(event, PrincipalRevoked):
            s.revoked_on = event.effective_on
            s.token_sha256 = s.password_argon2 = ""


class AccessRecordState(BaseModel):
    member_id: uuid.UUID | None = None
    purpose: str = ""


NS_ACCESS = uuid.UUID("8a7b6c5d-4e3f-4a2b-9c1d-0e9f8a7b6c5d")
PURPOSE_LEN_MIN = 10


class AccessRecord(Aggregate[AccessRecordState]):
    """One read of personal data in clear (id ``uuid5(NS_ACCESS, command id)``: a retried read is logged once)."""

    state_type = AccessRecordState

    @classmethod
    def record(cls, ctx: CommandContext, member_id: uuid.UUID, purpose: str, face: str, on: date) -> AccessRecord:
        purpose = " ".join(purpose.split())
        if len(purpose) < PURPOSE_LEN_MIN:
            raise InvalidInput("purpose", f"state why the personal data is needed (at least {PURPOSE_LEN_MIN} "
                                          "characters, e.g. 'verifikasi ahli waris klaim C-123')")
        record = cls(uuid.uuid5(NS_ACCESS, ctx.command_id))
        record._trigger(ctx, PersonalDataRevealed, on, member_id=member_id, purpose=purpose, face=face)
        return record

    def apply(self, event: LedgerEvent) -> None:
        assert isinstance(event, PersonalDataRevealed)
        self.state.member_id, self.state.purpose = event.member_id, event.purpose

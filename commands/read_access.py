"""Who may read what, without the write side: the :class:`Actor`, the read-role table, the token's form and the
checks :func:`commands.authorise.authenticate` and :func:`commands.authorise.authorise_read` make, over plain values
(docs/rules.md#principals).

:mod:`commands.authorise` loads a principal or a subject from the store and calls these; the read-only report path
(``cli/light_read.py``) reads the same facts from the store's tables and calls the same functions, so both refuse
alike, with the same words. Light: no pydantic, no command message, no store (a test checks the import).
"""

from __future__ import annotations

import base64
import getpass
import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from ledger.business_time import WIB
from ledger.errors import Forbidden, InvalidInput, Unauthenticated
from ledger.scope import LOCAL_PREFIX, Scope, token_expired
from ledger.values import Role

TOKEN_PREFIX = "jst1"
TOKEN_SECRET_BYTES = 32
TOKEN_LEN_MAX = 200


@dataclass(frozen=True, slots=True)
class Actor:
    """An authenticated principal: its name (recorded as every event's ``actor``), roles and scope."""

    name: str
    roles: frozenset[Role]
    scope: Scope

    def has(self, *roles: Role) -> bool:
        return Role.ADMIN in self.roles or any(r in self.roles for r in roles)


_R = Role
_OPERATOR = frozenset({_R.OPERATOR})
_READERS = frozenset({_R.AUDITOR, _R.FINANCE, _R.BUDGET_OWNER})
READ_ROLES: dict[str, frozenset[Role]] = {
    "report.members": _READERS | {_R.OPERATOR},
    "report.balances": _READERS,
    "report.claims": _READERS | {_R.CLAIMS_OFFICER},
    "report.coverage": _READERS | {_R.OPERATOR},
    "report.reconciliation": _READERS,
    "report.trial-balance": _READERS,
    "report.audit": frozenset({_R.AUDITOR}),
    "report.access": frozenset({_R.AUDITOR, _R.DATA_PROTECTION_OFFICER}),
    "agreement.show": _READERS | {_R.OPERATOR},
    "member.show": frozenset({_R.OPERATOR, _R.CLAIMS_OFFICER, _R.AUDITOR, _R.DATA_PROTECTION_OFFICER}),
    "contribution.quote": _OPERATOR | {_R.FINANCE},
    "check": _READERS,
    "audit": frozenset({_R.AUDITOR}),
    "project": frozenset({_R.AUDITOR, _R.OPERATOR}),
    "principal.list": frozenset({_R.AUDITOR}),
    "events": _READERS | {_R.OPERATOR},
}
"""Read → the roles that may make it (``admin`` may make every one). Reads never show personal data, except
``member.reveal``, which is a command (it is recorded in the access log)."""
NATIONAL_READS = frozenset({"report.trial-balance", "report.audit", "report.access", "check", "audit", "project",
                            "principal.list"})
"""Reads of the whole ledger: only the ``all`` scope may make them."""
FILTERED_READS = frozenset({"events"})
"""Reads that filter themselves by the reader's scope, row by row (the event feed: only events of aggregates
inside the scope, :mod:`projections.event_scope`): a scoped reader need not name an agreement."""


def local_actor() -> Actor:
    """The operating-system user running the CLI on the server: ``local:<user>``, role admin, scope all."""
    return Actor(f"{LOCAL_PREFIX}{getpass.getuser()}", frozenset({Role.ADMIN}), Scope("all"))


def token_sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_name(token: str | None) -> str:
    """The principal name a token names (``jst1.<name, base64url>.<secret>``); :class:`Unauthenticated` when there
    is no token or it is not of that form."""
    if not token:
        raise Unauthenticated("token", "no token given")
    token = token.strip()
    parts = token.split(".")
    if len(token) > TOKEN_LEN_MAX or len(parts) != 3 or parts[0] != TOKEN_PREFIX:
        raise Unauthenticated("token", "malformed token")
    try:
        return base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        raise Unauthenticated("token", "malformed token") from None


@dataclass(frozen=True, slots=True)
class Grant:
    """What a token is checked against: the principal's roles, scope, current token hash and its last day, and
    the day it was revoked (as its events left them)."""

    roles: tuple[Role, ...]
    scope: str
    token_sha256: str
    token_expires_on: date | None
    revoked_on: date | None


def token_actor(name: str, token: str, grant: Grant | None, now: Callable[[], datetime]) -> Actor:
    """The actor of ``token`` (which names ``name``) if ``grant`` — the principal, None when it never existed —
    holds it now: not revoked, its current token, not expired (``now`` is read only then); else
    :class:`Unauthenticated` with the precise reason."""
    if grant is None:
        raise Unauthenticated("token", "unknown token")
    if grant.revoked_on is not None:
        raise Unauthenticated("token", f"principal {name} was revoked on {grant.revoked_on}")
    if not hmac.compare_digest(grant.token_sha256, token_sha256(token.strip())):
        raise Unauthenticated("token", "unknown token (rotated or wrong)")
    today = now().astimezone(WIB).date()  # national: the day has begun in WIB
    if token_expired(grant.token_expires_on, today):
        raise Unauthenticated("token", f"the token of {name} expired after {grant.token_expires_on}")
    return Actor(name, frozenset(grant.roles), Scope.parse(grant.scope))


class Reach(Protocol):
    """What a read is about, for a scope: its payers and regions (:class:`commands.subject.Subject`)."""

    @property
    def payer_ids(self) -> frozenset[str]: ...

    @property
    def region_codes(self) -> frozenset[str]: ...


def require_role(actor: Actor, what: str, allowed: frozenset[Role]) -> None:
    if not actor.has(*allowed):
        roles = ", ".join(sorted(r.value for r in actor.roles))
        needs = " or ".join(sorted(r.value for r in allowed))
        raise Forbidden("principal", f"{actor.name} ({roles}) may not {what}: it needs the role {needs} "
                                     "(docs/rules.md#principals)")


def require_scope(actor: Actor, what: str, subject: Reach) -> None:
    if not actor.scope.covers(subject.payer_ids, subject.region_codes):
        raise Forbidden("principal", f"{actor.name} (scope {actor.scope}) may not {what}: outside its scope")


def check_read(actor: Actor, read: str, subject: Callable[[], Reach], *, agreement_id: str | None = None,
               nik: str | None = None) -> None:
    """Refuse a read the actor's roles do not allow, or whose agreement (or member) is outside its scope. A scoped
    actor must name an agreement (or member) of its scope — the read is then restricted to it, inside the query;
    whole-ledger reads (:data:`NATIONAL_READS`) need the ``all`` scope; :data:`FILTERED_READS` filter themselves.
    ``subject()`` — what the named agreement (or member) concerns — is asked only of a scoped actor."""
    if read not in READ_ROLES:
        raise InvalidInput("read", f"unknown read {read!r}")
    require_role(actor, f"read {read}", READ_ROLES[read])
    if actor.scope.is_all:
        return
    if read in FILTERED_READS:
        return
    if read in NATIONAL_READS:
        raise Forbidden("principal", f"{actor.name} (scope {actor.scope}) may not read {read}: it covers the whole "
                                     "ledger (scope all only)")
    if agreement_id is None and nik is None:
        raise Forbidden("agreement_id", f"{actor.name} (scope {actor.scope}) must name an agreement of its scope "
                                        "(--agreement)")
    require_scope(actor, f"read {read}", subject())

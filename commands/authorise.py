"""Who may do what: the one role table and the one authorisation point for every face (docs/rules.md#principals).

Faces (CLI, broker, HTTP) authenticate — :func:`authenticate` turns a token into an :class:`Actor`,
:func:`authenticate_password` a name and web password, or the CLI on the server acts as the local operating-system
user (:func:`local_actor`) — and hand the actor to
:func:`commands.handlers.execute`, which calls :func:`authorise` before any handler runs and stamps every event's
``actor`` with the actor's name. Reads go through :func:`authorise_read`.

Invariants:
- :data:`COMMAND_ROLES` names, for every command kind, the roles that may run it; ``admin`` may run every command
  (it is the installation's operator) but the four-eyes rules bind it like anyone.
- A scope other than ``all`` reaches only what :mod:`commands.subject` places inside it; anything unknown is outside.
- Tokens are 256 random bits; only their SHA-256 is stored (no slow hash is needed for a random secret).
- Passwords are chosen by people: only their argon2id hash is stored (:mod:`commands.passwords`), and checking one
  costs one argon2 verification whether or not the name exists.
"""

from __future__ import annotations

import base64
import getpass
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from commands.messages import COMMAND_TYPES, Command
from commands.passwords import PASSWORD_LEN_MAX, verify_password
from commands.subject import Subject, agreement_subject, member_subject
from eventstore.bootstrap import Ledger
from ledger.business_time import WIB
from ledger.errors import Forbidden, InvalidInput, Unauthenticated
from ledger.principal import LOCAL_PREFIX, NAME_PATTERN, Principal, Scope, principal_id_for
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
COMMAND_ROLES: dict[str, frozenset[Role]] = {
    "agreement.sign": frozenset({_R.BUDGET_OWNER}),
    "agreement.amend_budget": frozenset({_R.BUDGET_OWNER}),
    "agreement.confirm_budget": frozenset({_R.BUDGET_OWNER}),
    "member.enrol": _OPERATOR,
    "member.import": _OPERATOR,
    "member.change_payer": _OPERATOR,
    "member.carry_in_jht": _OPERATOR,
    "contribution.pay": _OPERATOR,
    "contribution.pay_cohort": _OPERATOR,
    "claim.submit": _OPERATOR,
    "region.workforce": _OPERATOR,
    "sweep": _OPERATOR,
    "claim.approve": frozenset({_R.CLAIMS_OFFICER}),
    "claim.reject": frozenset({_R.CLAIMS_OFFICER}),
    "claim.pay": frozenset({_R.CLAIMS_OFFICER}),
    "billing.bill": frozenset({_R.FINANCE}),
    "reconcile.import": frozenset({_R.FINANCE}),
    "reconcile.run": frozenset({_R.FINANCE}),
    "reconcile.resolve": frozenset({_R.FINANCE}),
    "refund.settle": frozenset({_R.FINANCE}),
    "member.forget": frozenset({_R.DATA_PROTECTION_OFFICER}),
    "member.reveal": frozenset({_R.DATA_PROTECTION_OFFICER}),
    "principal.add": frozenset({_R.ADMIN}),
    "principal.rotate_token": frozenset({_R.ADMIN}),
    "principal.set_password": frozenset({_R.ADMIN}),
    "principal.revoke": frozenset({_R.ADMIN}),
}
"""Command kind → the roles that may run it (``admin`` may run every one)."""

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

assert set(COMMAND_ROLES) == set(COMMAND_TYPES), "every command kind has its roles, and only those"


def role_for(kind: str) -> Role:
    """The role a command kind is run under by a principal acting in one role (the demo, the tests)."""
    return min(COMMAND_ROLES[kind])


def local_actor() -> Actor:
    """The operating-system user running the CLI on the server: ``local:<user>``, role admin, scope all."""
    return Actor(f"{LOCAL_PREFIX}{getpass.getuser()}", frozenset({Role.ADMIN}), Scope("all"))


def new_token(name: str) -> tuple[str, str]:
    """A fresh token for principal ``name`` and its SHA-256 (hex): ``jst1.<name, base64url>.<256 random bits>``."""
    encoded = base64.urlsafe_b64encode(name.encode()).decode().rstrip("=")
    token = f"{TOKEN_PREFIX}.{encoded}.{secrets.token_urlsafe(TOKEN_SECRET_BYTES)}"
    return token, token_sha256(token)


def token_sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _name_in(token: str) -> str:
    parts = token.split(".")
    if len(token) > TOKEN_LEN_MAX or len(parts) != 3 or parts[0] != TOKEN_PREFIX:
        raise Unauthenticated("token", "malformed token")
    try:
        return base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        raise Unauthenticated("token", "malformed token") from None


def authenticate(ledger: Ledger, token: str | None) -> Actor:
    """The active principal whose current token this is; :class:`Unauthenticated` (with the precise reason, for
    logs and dead letters — faces facing strangers answer only ``unauthenticated``) otherwise."""
    if not token:
        raise Unauthenticated("token", "no token given")
    name = _name_in(token.strip())
    principal = ledger.store.load(Principal, principal_id_for(name))
    if not principal.exists:
        raise Unauthenticated("token", "unknown token")
    if principal.state.revoked_on is not None:
        raise Unauthenticated("token", f"principal {name} was revoked on {principal.state.revoked_on}")
    if not hmac.compare_digest(principal.state.token_sha256, token_sha256(token.strip())):
        raise Unauthenticated("token", "unknown token (rotated or wrong)")
    today = ledger.clock.now().astimezone(WIB).date()  # national: the day has begun in WIB
    if principal.token_expired(today):
        raise Unauthenticated("token", f"the token of {name} expired after {principal.state.token_expires_on}")
    return Actor(name, frozenset(principal.state.roles), Scope.parse(principal.state.scope))


DUMMY_PASSWORD_ARGON2 = ("$argon2id$v=19$m=65536,t=3,p=4$2H8l5CCMH4obhA7Vuk6B0Q"
                         "$iq86zRwS2jtLYp5QcjU51rgXV8czPGUiTC7C/cA5ME4")
"""The hash of a random secret nobody knows, with :data:`commands.passwords.HASHER`'s parameters: verified against
when the name has no password, so that the time taken does not tell which names exist."""


def authenticate_password(ledger: Ledger, name: str, password: str) -> Actor:
    """The active principal ``name`` whose web password this is — the same :class:`Actor` as :func:`authenticate`
    — or :class:`Unauthenticated` naming ``password`` with the precise reason (for logs; a login page answers only
    that the name or password is wrong). Token expiry does not apply to a password."""
    principal = ledger.store.load(Principal, principal_id_for(name)) if NAME_PATTERN.fullmatch(name) else None
    stored = principal.state.password_argon2 if principal is not None and principal.active else ""
    candidate = password if len(password) <= PASSWORD_LEN_MAX else ""
    matches = verify_password(stored or DUMMY_PASSWORD_ARGON2, candidate)  # always one verification
    if principal is None:
        raise Unauthenticated("password", "malformed name")
    if not principal.exists:
        raise Unauthenticated("password", f"unknown principal {name}")
    if principal.state.revoked_on is not None:
        raise Unauthenticated("password", f"principal {name} was revoked on {principal.state.revoked_on}")
    if not stored:
        raise Unauthenticated("password", f"principal {name} has no password set")
    if not matches or candidate != password:
        raise Unauthenticated("password", f"wrong password for {name}")
    return Actor(name, frozenset(principal.state.roles), Scope.parse(principal.state.scope))


def _require_role(actor: Actor, what: str, allowed: frozenset[Role]) -> None:
    if not actor.has(*allowed):
        roles = ", ".join(sorted(r.value for r in actor.roles))
        needs = " or ".join(sorted(r.value for r in allowed))
        raise Forbidden("principal", f"{actor.name} ({roles}) may not {what}: it needs the role {needs} "
                                     "(docs/rules.md#principals)")


def _require_scope(actor: Actor, what: str, subject: Subject) -> None:
    if not actor.scope.covers(subject.payer_ids, subject.region_codes):
        raise Forbidden("principal", f"{actor.name} (scope {actor.scope}) may not {what}: outside its scope")


def may_run(actor: Actor, kind: str) -> bool:
    """Whether ``actor``'s roles allow command ``kind`` (its scope is checked against each command's subject)."""
    return actor.has(*COMMAND_ROLES[kind])


def require_role_for(actor: Actor, kind: str) -> None:
    """Refuse (:class:`Forbidden`) unless ``actor``'s roles allow command ``kind``: a face checks this before it
    reads a large input (an upload) that only such a principal may send; :func:`authorise` checks it again."""
    _require_role(actor, f"run {kind}", COMMAND_ROLES[kind])


def authorise(actor: Actor, command: Command, subject: Subject) -> None:
    """Refuse (:class:`Forbidden`) unless ``actor``'s roles allow this kind and its scope reaches ``subject``."""
    kind: str = command.kind  # type: ignore[attr-defined]
    require_role_for(actor, kind)
    _require_scope(actor, f"run {kind}", subject)


def authorise_read(ledger: Ledger, actor: Actor, read: str, *, agreement_id: str | None = None,
                   nik: str | None = None) -> None:
    """Refuse a read the actor's roles do not allow, or whose agreement (or member) is outside its scope. A scoped
    actor must name an agreement (or member) of its scope — the read is then restricted to it, inside the query;
    whole-ledger reads (:data:`NATIONAL_READS`) need the ``all`` scope; :data:`FILTERED_READS` filter themselves."""
    if read not in READ_ROLES:
        raise InvalidInput("read", f"unknown read {read!r}")
    _require_role(actor, f"read {read}", READ_ROLES[read])
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
    subject = agreement_subject(ledger, agreement_id) if agreement_id else member_subject(ledger, nik or "")
    _require_scope(actor, f"read {read}", subject)

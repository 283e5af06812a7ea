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
import secrets

from commands.messages import COMMAND_TYPES, Command
from commands.passwords import PASSWORD_LEN_MAX, verify_password
from commands.read_access import FILTERED_READS as FILTERED_READS  # re-exported, as the names below
from commands.read_access import NATIONAL_READS as NATIONAL_READS
from commands.read_access import READ_ROLES as READ_ROLES
from commands.read_access import TOKEN_LEN_MAX as TOKEN_LEN_MAX
from commands.read_access import TOKEN_PREFIX as TOKEN_PREFIX
from commands.read_access import TOKEN_SECRET_BYTES as TOKEN_SECRET_BYTES
from commands.read_access import Actor as Actor
from commands.read_access import Grant, check_read, require_role, require_scope, token_actor, token_name
from commands.read_access import local_actor as local_actor
from commands.read_access import token_sha256 as token_sha256
from commands.subject import Subject, agreement_subject, member_subject
from eventstore.bootstrap import Ledger
from ledger.errors import Unauthenticated
from ledger.principal import NAME_PATTERN, Principal, Scope, principal_id_for
from ledger.values import Role

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

assert set(COMMAND_ROLES) == set(COMMAND_TYPES), "every command kind has its roles, and only those"


def role_for(kind: str) -> Role:
    """The role a command kind is run under by a principal acting in one role (the demo, the tests)."""
    return min(COMMAND_ROLES[kind])


def new_token(name: str) -> tuple[str, str]:
    """A fresh token for principal ``name`` and its SHA-256 (hex): ``jst1.<name, base64url>.<256 random bits>``."""
    encoded = base64.urlsafe_b64encode(name.encode()).decode().rstrip("=")
    token = f"{TOKEN_PREFIX}.{encoded}.{secrets.token_urlsafe(TOKEN_SECRET_BYTES)}"
    return token, token_sha256(token)


def authenticate(ledger: Ledger, token: str | None) -> Actor:
    """The active principal whose current token this is; :class:`Unauthenticated` (with the precise reason, for
    logs and dead letters — faces facing strangers answer only ``unauthenticated``) otherwise."""
    name = token_name(token)
    principal = ledger.store.load(Principal, principal_id_for(name))
    state = principal.state
    grant = Grant(tuple(state.roles), state.scope, state.token_sha256, state.token_expires_on,
                  state.revoked_on) if principal.exists else None
    return token_actor(name, token or "", grant, ledger.clock.now)


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


def may_run(actor: Actor, kind: str) -> bool:
    """Whether ``actor``'s roles allow command ``kind`` (its scope is checked against each command's subject)."""
    return actor.has(*COMMAND_ROLES[kind])


def require_role_for(actor: Actor, kind: str) -> None:
    """Refuse (:class:`Forbidden`) unless ``actor``'s roles allow command ``kind``: a face checks this before it
    reads a large input (an upload) that only such a principal may send; :func:`authorise` checks it again."""
    require_role(actor, f"run {kind}", COMMAND_ROLES[kind])


def authorise(actor: Actor, command: Command, subject: Subject) -> None:
    """Refuse (:class:`Forbidden`) unless ``actor``'s roles allow this kind and its scope reaches ``subject``."""
    kind: str = command.kind  # type: ignore[attr-defined]
    require_role_for(actor, kind)
    require_scope(actor, f"run {kind}", subject)


def authorise_read(ledger: Ledger, actor: Actor, read: str, *, agreement_id: str | None = None,
                   nik: str | None = None) -> None:
    """Refuse a read the actor's roles do not allow, or whose agreement (or member) is outside its scope. A scoped
    actor must name an agreement (or member) of its scope — the read is then restricted to it, inside the query;
    whole-ledger reads (:data:`NATIONAL_READS`) need the ``all`` scope; :data:`FILTERED_READS` filter themselves."""
    def subject() -> Subject:
        return agreement_subject(ledger, agreement_id) if agreement_id else member_subject(ledger, nik or "")

    check_read(actor, read, subject, agreement_id=agreement_id, nik=nik)

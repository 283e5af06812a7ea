"""Handlers for principals (add, rotate a token, set a password, revoke) and for reading personal data in clear
(the access log).

Tokens are made by the face (:func:`commands.authorise.new_token`) and shown once; a command carries only the
token's SHA-256, so neither the events nor a replayed result ever hold a token. A password is hashed by the face
(:func:`commands.passwords.hash_password`); the command carries only its argon2id hash (docs/rules.md#principals).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from commands.common import member_for_nik
from commands.messages import (
    AddPrincipal,
    Command,
    RevealMember,
    RevokePrincipal,
    RotatePrincipalToken,
    SetPrincipalPassword,
)
from eventstore.bootstrap import Ledger
from ledger.aggregate import Aggregate, CommandContext
from ledger.errors import NotFound
from ledger.principal import (
    AccessRecord,
    Principal,
    Scope,
    principal_id_for,
    require_principal_name,
)

Result = dict[str, Any]
Handler = Callable[[Ledger, Any, CommandContext, date], tuple[list[Aggregate[Any]], Result]]


def _load(ledger: Ledger, name: str) -> Principal:
    principal = ledger.store.load(Principal, principal_id_for(require_principal_name(name)))
    if not principal.exists:
        raise NotFound("name", f"unknown principal {name}")
    return principal


def add_principal(ledger: Ledger, cmd: AddPrincipal, ctx: CommandContext, on: date) -> tuple[list[Any], Result]:
    scope = Scope.parse(cmd.scope)
    existing = ledger.store.load(Principal, principal_id_for(require_principal_name(cmd.name)))
    principal = Principal.add(ctx, name=cmd.name, roles=list(cmd.roles), scope=scope, description=cmd.description,
                              token_sha256=cmd.token_sha256, on=on, existing=existing,
                              token_expires_on=cmd.token_expires_on)
    return [principal], {"name": cmd.name, "roles": [r.value for r in cmd.roles], "scope": str(scope),
                         "token_expires_on": principal.state.token_expires_on}


def rotate_token(ledger: Ledger, cmd: RotatePrincipalToken, ctx: CommandContext, on: date
                 ) -> tuple[list[Any], Result]:
    principal = _load(ledger, cmd.name)
    principal.rotate(ctx, cmd.token_sha256, on, cmd.token_expires_on)
    return [principal], {"name": cmd.name, "token_rotated": True,
                         "token_expires_on": principal.state.token_expires_on}


def set_password(ledger: Ledger, cmd: SetPrincipalPassword, ctx: CommandContext, on: date
                 ) -> tuple[list[Any], Result]:
    principal = _load(ledger, cmd.name)
    principal.set_password(ctx, cmd.password_argon2, on)
    return [principal], {"name": cmd.name, "password_set": True}


def revoke(ledger: Ledger, cmd: RevokePrincipal, ctx: CommandContext, on: date) -> tuple[list[Any], Result]:
    principal = _load(ledger, cmd.name)
    principal.revoke(ctx, cmd.reason, on)
    return [principal], {"name": cmd.name, "revoked_on": on.isoformat()}


def reveal_member(ledger: Ledger, cmd: RevealMember, ctx: CommandContext, on: date) -> tuple[list[Any], Result]:
    """Record the access (who, when, which member, why) before anything is shown: the face reads the personal data
    only once this is saved (:func:`commands.access.reveal`)."""
    member = member_for_nik(ledger, cmd.nik)
    record = AccessRecord.record(ctx, member.id, cmd.purpose, cmd.face, on)
    return [record], {"member_id": str(member.id), "access_id": str(record.id), "purpose": record.state.purpose}


PRINCIPAL_HANDLERS: dict[type[Command], Handler] = {
    AddPrincipal: add_principal,
    RotatePrincipalToken: rotate_token,
    SetPrincipalPassword: set_password,
    RevokePrincipal: revoke,
    RevealMember: reveal_member,
}

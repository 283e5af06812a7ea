"""FastAPI dependencies: the process's one :class:`~eventstore.bootstrap.Ledger`, the authenticated principal
(a bearer token of a principal, ``jamsos principal add``), and running a command under an ``Idempotency-Key``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Header, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from commands.authorise import Actor, authenticate, authorise_read
from commands.handlers import execute
from commands.messages import Command, make
from eventstore.bootstrap import Ledger
from ledger.errors import Forbidden, InvalidInput, Unauthenticated
from ledger.values import Role

IDEMPOTENCY_KEY_LEN_MAX = 128
"""The same bound as a command id (``Command.command_id``): the key *is* the command id."""

bearer = HTTPBearer(auto_error=False, description="A principal's token: `Authorization: Bearer jst1.…`.")


def get_ledger(request: Request) -> Ledger:
    ledger: Ledger = request.app.state.ledger
    return ledger


LedgerDep = Annotated[Ledger, Depends(get_ledger)]


def get_actor(request: Request, ledger: LedgerDep,
              credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> Actor:
    """The principal of the bearer token; 401 without one (the reason is logged, never answered)."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthenticated("token", "no bearer token")
    actor = authenticate(ledger, credentials.credentials)
    request.state.principal = actor.name  # for the access log line (a name, never the token)
    request.scope.setdefault("state", {})["principal"] = actor.name
    return actor


ActorDep = Annotated[Actor, Depends(get_actor)]


def outside_roles(request: Request, actor: Actor) -> Forbidden | None:
    """The refusal of ``actor`` by the matched route when none of its roles is in the route's ``x-roles`` (None
    otherwise, or for a route that declares none). Checked before any of the request's input is read, so that a
    principal a route does not serve learns nothing of what it takes; the route still authorises the command or
    read itself (the scope, and the roles of the one read of several a route serves)."""
    route = request.scope.get("route")
    declared = (getattr(route, "openapi_extra", None) or {}).get("x-roles") or []
    if not declared or actor.has(*(Role(r) for r in declared)):
        return None
    return Forbidden("principal", f"{actor.name} may not call {getattr(route, 'path', '?')}: it needs the role "
                                  f"{' or '.join(declared)}")


def refuse_other_roles(request: Request, actor: ActorDep) -> None:
    """A router dependency (listed before any other): 403 by :func:`outside_roles`."""
    refusal = outside_roles(request, actor)
    if refusal is not None:
        raise refusal

IdempotencyKey = Annotated[str | None, Header(
    alias="Idempotency-Key", max_length=IDEMPOTENCY_KEY_LEN_MAX, min_length=1,
    description="The command id: a retry with the same key and body returns the first response "
                "(with `Idempotency-Replayed: true`); the same key with another body is refused (422).")]


def run(request: Request, ledger: Ledger, actor: Actor, cls: type[Command], fields: dict[str, Any],
        key: str | None, response: Response) -> dict[str, Any]:
    """Build ``cls`` from ``fields`` (naming the field on a refusal) and execute it as ``actor`` exactly once per
    ``key``; a replay is marked by the ``Idempotency-Replayed`` header. At most ``Settings.http_writers_max``
    commands execute at once in this process (the app's ``writers`` gate): the store takes one writer at a time
    anyway, and a queue in front of it is cheaper than threads contending for its lock."""
    if "command_id" in fields or "kind" in fields:
        name = "command_id" if "command_id" in fields else "kind"
        raise InvalidInput(name, "unknown field (the route names the kind; Idempotency-Key is the command id)")
    command = make(cls, **fields, **({"command_id": key} if key else {}))
    with request.app.state.writers:
        result = dict(execute(ledger, command, actor))
    replayed = bool(result.pop("replayed", False))
    response.headers["Idempotency-Replayed"] = "true" if replayed else "false"
    response.headers["Idempotency-Key"] = command.command_id
    return result


def read_as(ledger: Ledger, actor: Actor, read: str, *, agreement_id: str | None = None,
            nik: str | None = None) -> None:
    """Refuse (403) a read the principal's roles or scope do not allow (``commands.authorise.READ_ROLES``)."""
    authorise_read(ledger, actor, read, agreement_id=agreement_id, nik=nik)

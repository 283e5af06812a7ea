"""Principal routes that make a token: add a principal, rotate its token (role ``admin``). The token is made here
(:func:`commands.authorise.new_token`), only its SHA-256 reaches the command, and the response shows it once; a
replay (same ``Idempotency-Key``) shows no token."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from api.deps import ActorDep, IdempotencyKey, LedgerDep, run
from api.problems import COMMON_PROBLEMS, problem_responses
from api.routes.commands import API, roles_of
from api.routes.reading import STRICT_QUERY
from commands.authorise import new_token
from commands.messages import AddPrincipal, RotatePrincipalToken
from ledger.values import Role

router = APIRouter(prefix=API, tags=["principal"], dependencies=STRICT_QUERY)


class NewPrincipal(BaseModel):
    """A principal to add: a lower-case name (never reused), its roles and its scope."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=2, max_length=64, examples=["siti.bpkad-skw"])
    roles: list[Role] = Field(min_length=1, max_length=7)
    scope: str = Field(default="all", max_length=80, description="all, payer:<payer id> or region:<code>.")
    description: str = Field(default="", max_length=200)
    token_expires_on: date | None = Field(default=None, description="The token's last valid day (at most 400 days "
                                          "ahead); none: until it is rotated or the principal revoked.")


class TokenRotation(BaseModel):
    """A new token for a principal, with its own expiry."""

    model_config = ConfigDict(extra="forbid")

    token_expires_on: date | None = None


def _with_token(result: dict[str, Any], token: str, response: Response) -> dict[str, Any]:
    replayed = response.headers.get("Idempotency-Replayed") == "true"
    return {**result, "token": None if replayed else token,
            "note": "already run: the token was shown then and cannot be shown again; rotate it for a new one"
            if replayed else "shown once and not stored: keep it in a secret store"}


@router.post("/principals", status_code=201, response_model=dict[str, Any], operation_id="principal_add",
             summary="Add a principal; its token is in the response, once",
             responses=problem_responses(*COMMON_PROBLEMS, 409),
             openapi_extra={"x-roles": roles_of("principal.add"), "x-command-kind": "principal.add"})
def principal_add(request: Request, ledger: LedgerDep, actor: ActorDep, response: Response,
                  body: Annotated[NewPrincipal, Body()], idempotency_key: IdempotencyKey = None) -> dict[str, Any]:
    token, digest = new_token(body.name)
    result = run(request, ledger, actor, AddPrincipal, {**body.model_dump(), "token_sha256": digest}, idempotency_key,
                 response)
    return _with_token(result, token, response)


@router.post("/principals/{name:path}/token", response_model=dict[str, Any], operation_id="principal_rotate_token",
             summary="Replace a principal's token (the old one stops working at once); the new one, once",
             responses=problem_responses(*COMMON_PROBLEMS, 404, 409),
             openapi_extra={"x-roles": roles_of("principal.rotate_token"),
                            "x-command-kind": "principal.rotate_token"})
def principal_rotate_token(request: Request, ledger: LedgerDep, actor: ActorDep, response: Response,
                           name: Annotated[str, Path(min_length=2, max_length=64)],
                           body: Annotated[TokenRotation | None, Body()] = None,
                           idempotency_key: IdempotencyKey = None) -> dict[str, Any]:
    token, digest = new_token(name)
    expiry = {"token_expires_on": body.token_expires_on} if body and body.token_expires_on else {}
    result = run(request, ledger, actor, RotatePrincipalToken, {"name": name, "token_sha256": digest, **expiry},
                 idempotency_key, response)
    return _with_token(result, token, response)

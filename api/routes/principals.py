"""Principal routes that make a credential: add a principal, rotate its token, set its web password (role
``admin``). The token is made here (:func:`commands.authorise.new_token`), only its SHA-256 reaches the command, and
the response shows it once; a replay (same ``Idempotency-Key``) shows no token. A password is hashed here
(:func:`commands.passwords.hash_password`, which applies the policy): only its argon2id hash reaches the command,
and it is never logged nor answered back."""

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
from commands.messages import AddPrincipal, RotatePrincipalToken, SetPrincipalPassword
from commands.passwords import PASSWORD_LEN_MAX, PASSWORD_LEN_MIN, hash_password
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


class NewPassword(BaseModel):
    """A principal's new web password: hashed with argon2id by the server, never stored, logged or shown back."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    password: str = Field(min_length=PASSWORD_LEN_MIN, max_length=PASSWORD_LEN_MAX, json_schema_extra={
        "format": "password", "writeOnly": True}, description=f"{PASSWORD_LEN_MIN}-{PASSWORD_LEN_MAX} characters, "
        "neither the principal's name nor containing it, not one character repeated.")


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


@router.post("/principals/{name:path}/password", response_model=dict[str, Any], operation_id="principal_set_password",
             summary="Set (or replace) a principal's web password; only its argon2id hash is kept",
             responses=problem_responses(*COMMON_PROBLEMS, 404, 409),
             openapi_extra={"x-roles": roles_of("principal.set_password"),
                            "x-command-kind": "principal.set_password"})
def principal_set_password(request: Request, ledger: LedgerDep, actor: ActorDep, response: Response,
                           name: Annotated[str, Path(min_length=2, max_length=64)],
                           body: Annotated[NewPassword, Body()],
                           idempotency_key: IdempotencyKey = None) -> dict[str, Any]:
    digest = hash_password(body.password, name)
    return run(request, ledger, actor, SetPrincipalPassword, {"name": name, "password_argon2": digest},
               idempotency_key, response)

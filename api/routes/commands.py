"""Write routes: one resource-style route per command kind, built from :data:`WRITE_ROUTES`.

Each route's body is the command's own fields (the pydantic message, unknown fields refused) less the ones the
path names, ``kind`` (the route is the kind) and ``command_id`` (the ``Idempotency-Key`` header is the command id).
Every route runs :func:`commands.handlers.execute` as the bearer token's principal and declares its roles
(``x-roles``, from :data:`commands.authorise.COMMAND_ROLES`). Kinds that take a file or run long (cohort import
and payment, statement upload) and the principal routes (a token is made here) have routes of their own.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Request, Response
from pydantic import BaseModel, ConfigDict, create_model

from api.deps import ActorDep, IdempotencyKey, LedgerDep, run
from api.problems import COMMON_PROBLEMS, problem_responses
from api.routes.reading import STRICT_QUERY
from commands.authorise import COMMAND_ROLES, Actor
from commands.messages import COMMAND_TYPES, Command
from ledger.errors import Forbidden
from ledger.values import Role

API = "/api/v1"


@dataclass(frozen=True, slots=True)
class WriteRoute:
    """A command kind's route: ``path`` under ``/api/v1``; its ``{placeholders}`` are fields of the command."""

    kind: str
    path: str
    summary: str
    status_code: int = 200
    problems: tuple[int, ...] = (404, 409)


WRITE_ROUTES: tuple[WriteRoute, ...] = (
    WriteRoute("agreement.sign", "/agreements", "Sign a funding agreement (perjanjian pendanaan)", 201, (409,)),
    WriteRoute("agreement.amend_budget", "/agreements/{agreement_id}/budget-amendments",
               "Amend an agreement's budget ceiling (above the four-eyes threshold it awaits confirmation)"),
    WriteRoute("agreement.confirm_budget", "/agreements/{agreement_id}/budget-confirmations",
               "Confirm another budget owner's amendment (four eyes)"),
    WriteRoute("member.enrol", "/members", "Enrol one worker (peserta) under an agreement, or self-paying", 201),
    WriteRoute("member.change_payer", "/members/payer-changes", "Move a member to another payer from a month"),
    WriteRoute("member.carry_in_jht", "/members/jht-carry-ins", "Carry in a JHT balance from an earlier membership"),
    WriteRoute("member.forget", "/members/erasures", "Erase a member's personal data (UU 27/2022): crypto-shredding"),
    WriteRoute("contribution.pay", "/contributions", "Pay one member's contributions (iuran) for months"),
    WriteRoute("claim.submit", "/claims", "Submit a benefit claim (klaim) for a member", 201),
    WriteRoute("claim.approve", "/claims/{claim_id}/approval", "Approve a claim (not by its submitter: four eyes)"),
    WriteRoute("claim.reject", "/claims/{claim_id}/rejection", "Reject a claim with a reason"),
    WriteRoute("claim.pay", "/claims/{claim_id}/payment", "Record the payment of an approved claim"),
    WriteRoute("region.workforce", "/regions/{region_code}/workforce", "Record a region's working population"),
    WriteRoute("sweep", "/sweeps", "Emit every lapse due by the day (ARREARS, FUNDING_ENDED)"),
    WriteRoute("billing.bill", "/agreements/{agreement_id}/invoices",
               "Invoice the billing block that contains a month", 201),
    WriteRoute("reconcile.run", "/reconciliation-runs", "Match new statement lines to open invoices"),
    WriteRoute("reconcile.resolve", "/statements/{statement_id}/lines/{line_no}/resolution",
               "Resolve a reconciliation exception (match by hand, write off, park in suspense)"),
    WriteRoute("refund.settle", "/refunds", "Record a refund paid back to a payer after a death"),
    WriteRoute("principal.revoke", "/principals/{name}/revocation", "Revoke a principal (its token stops working)"),
)
"""The generic write routes. Every command kind has a route: these, or one in ``api/routes/bulk.py``
(import, cohort payment, statement upload) or ``api/routes/principals.py`` (add, rotate a token) or the member
reveal (``api/routes/reads.py``); ``tests/test_api_routes.py`` checks that none is missing."""

FACE_FIELDS = frozenset({"kind", "command_id"})


def roles_of(kind: str) -> list[str]:
    """The roles that may run ``kind``: its own, and ``admin``."""
    return sorted({r.value for r in COMMAND_ROLES[kind]} | {Role.ADMIN.value})


def requires_role(kind: str) -> Any:
    """A dependency refusing (403) a principal none of whose roles may run ``kind`` — before the body is read
    into a command; :func:`~commands.handlers.execute` checks the role again with the scope."""
    allowed = COMMAND_ROLES[kind]

    def guard(actor: ActorDep) -> Actor:
        if not actor.has(*allowed):
            raise Forbidden("principal", f"{actor.name} may not run {kind}")
        return actor

    return Depends(guard)


def body_model(cls: type[Command], without: set[str]) -> type[BaseModel]:
    """The request body of ``cls``'s route: its fields less ``without``, unknown fields refused."""
    fields: dict[str, Any] = {
        name: (info.annotation, info) for name, info in cls.model_fields.items()
        if name not in FACE_FIELDS | without
    }
    return create_model(f"{cls.__name__}Body", __config__=ConfigDict(extra="forbid"),
                        __doc__=cls.__doc__, **fields)


def placeholders(path: str) -> list[str]:
    return [part[1:-1].split(":")[0] for part in path.split("/") if part.startswith("{")]


def routed(path: str, cls: type[Command]) -> str:
    """``path`` with each text placeholder taking a ``/`` too (``{claim_id:path}``): an id may hold one (``Code``:
    ``KLM/2026/001``), a client sends it percent-encoded and the server decodes it before routing."""
    for name in placeholders(path):
        if cls.model_fields[name].annotation is str:
            path = path.replace(f"{{{name}}}", f"{{{name}:path}}")
    return path


def _endpoint(route: WriteRoute) -> tuple[Any, type[BaseModel]]:
    cls = COMMAND_TYPES[route.kind]
    in_path = placeholders(route.path)
    body_cls = body_model(cls, set(in_path))
    guard = requires_role(route.kind)

    def endpoint(request: Request, response: Response, ledger: LedgerDep, actor: Actor, body: Any,
                 idempotency_key: str | None = None, **path: Any) -> dict[str, Any]:
        fields = {**body.model_dump(exclude_unset=True), **path}
        return run(request, ledger, actor, cls, fields, idempotency_key, response)

    params = [
        inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Request),
        inspect.Parameter("response", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Response),
        inspect.Parameter("ledger", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=LedgerDep),
        inspect.Parameter("actor", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                          annotation=Annotated[Actor, guard]),
        inspect.Parameter("body", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                          annotation=Annotated[body_cls, Body()]),
        inspect.Parameter("idempotency_key", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=IdempotencyKey,
                          default=None),
    ]
    for name in in_path:
        annotation = cls.model_fields[name].annotation
        params.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY,
                                        annotation=Annotated[annotation, Path()]))
    endpoint.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    endpoint.__name__ = route.kind.replace(".", "_")
    endpoint.__doc__ = (cls.__doc__ or route.summary).strip()
    return endpoint, body_cls


def build_router() -> APIRouter:
    router = APIRouter(prefix=API, tags=["commands"], dependencies=STRICT_QUERY)
    for route in WRITE_ROUTES:
        endpoint, _ = _endpoint(route)
        router.add_api_route(
            routed(route.path, COMMAND_TYPES[route.kind]), endpoint, methods=["POST"], status_code=route.status_code,
            summary=route.summary,
            response_model=dict[str, Any], operation_id=route.kind.replace(".", "_"),
            responses=problem_responses(*sorted({*COMMON_PROBLEMS, *route.problems})),
            openapi_extra={"x-roles": roles_of(route.kind), "x-command-kind": route.kind},
            tags=[route.kind.split(".")[0]],
        )
    return router


router = build_router()

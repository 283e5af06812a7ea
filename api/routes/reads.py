"""Reads besides reports: an agreement, a member (and the recorded reveal of its personal data), the principals,
the read models' status, and the journal checks — each the CLI's ``--json`` document of the same read.

A member is looked up by NIK in a POST body (``/members/lookup``), never in a URL: paths and query strings land in
logs and browser histories.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from api.deps import ActorDep, LedgerDep, read_as
from api.problems import COMMON_PROBLEMS, problem_responses
from api.routes.reading import (
    ACCEPT_JSON,
    API,
    STRICT_QUERY,
    AsOfQuery,
    OnQuery,
    cli_json,
    roles_of_read,
)
from ledger.business_time import parse_day, parse_instant
from ledger.errors import InvalidInput

router = APIRouter(prefix=API, dependencies=[*STRICT_QUERY, ACCEPT_JSON])
PROBLEMS = problem_responses(*sorted({*COMMON_PROBLEMS, 404, 406}))


@router.get("/agreements/{agreement_id:path}", response_model=dict[str, Any], tags=["agreement"],
            operation_id="agreement_show", summary="An agreement and its cohort: members enrolled, active and paid",
            responses=PROBLEMS, openapi_extra={"x-roles": roles_of_read("agreement.show"),
                                               "x-read": "agreement.show"})
def agreement_show(ledger: LedgerDep, actor: ActorDep, agreement_id: Annotated[str, Path(max_length=64)],
                   on: OnQuery = None, as_of: AsOfQuery = None) -> Response:
    """``jamsos agreement show ID --json``: the agreement as on ``on``, as recorded by ``as_of``."""
    from projections.ledger_views import agreement_view

    read_as(ledger, actor, "agreement.show", agreement_id=agreement_id)
    return cli_json(agreement_view(ledger, agreement_id, parse_day(on), parse_instant(as_of)))


class MemberLookup(BaseModel):
    """Which member, as on which day; ``reveal`` with a ``purpose`` decrypts the personal data (recorded)."""

    model_config = ConfigDict(extra="forbid")

    nik: str = Field(min_length=1, max_length=32, description="The member's 16-digit NIK.")
    on: str | None = Field(default=None, description="Business date YYYY-MM-DD (default: today).")
    as_of: str | None = Field(default=None, description="Recorded-time cut-off (ISO timestamp; naive is WIB).")
    reveal: bool = Field(default=False, description="Show the personal data in clear (role "
                                                    "data-protection-officer; needs `purpose`; written to the "
                                                    "access log).")
    purpose: str | None = Field(default=None, max_length=500,
                                description="With `reveal`: why the personal data is needed (recorded).")


@router.post("/members/lookup", response_model=dict[str, Any], tags=["member"], operation_id="member_show",
             summary="A member: chains, payers, periods paid, claims (personal data only with reveal)",
             responses=PROBLEMS, openapi_extra={"x-roles": roles_of_read("member.show", "member.reveal"),
                                                "x-read": "member.show", "x-command-kind": "member.reveal"})
def member_show(ledger: LedgerDep, actor: ActorDep, body: Annotated[MemberLookup, Body()]) -> Response:
    """``jamsos member show NIK --json`` (pseudonymous: roles of the read ``member.show``); with ``reveal`` and a
    ``purpose``, ``--reveal --purpose``: the reveal is recorded in the access log (face ``http``) before anything
    is shown, and refused — nothing shown — without the data-protection role."""
    from commands.member_access import show_member

    if body.purpose is not None and not body.reveal:
        raise InvalidInput("purpose", "only with reveal")
    if body.reveal and body.purpose is None:
        raise InvalidInput("purpose", "reveal needs a purpose: why the personal data is needed (it is recorded in "
                                      "the access log, UU 27/2022)")
    day, as_of = parse_day(body.on), parse_instant(body.as_of)
    return cli_json(show_member(ledger, actor, body.nik, day, as_of, purpose=body.purpose, face="http"))


@router.get("/principals", response_model=dict[str, Any], tags=["principal"], operation_id="principal_list",
            summary="Every principal with its roles and scope (no tokens)", responses=PROBLEMS,
            openapi_extra={"x-roles": roles_of_read("principal.list"), "x-read": "principal.list"})
def principal_list(ledger: LedgerDep, actor: ActorDep, as_of: AsOfQuery = None) -> Response:
    """``jamsos principal list --json``: who added each principal, when, and whether it is revoked."""
    from projections.access import principals

    read_as(ledger, actor, "principal.list")
    as_of_t = parse_instant(as_of)
    return cli_json({"principals": principals(ledger.store, as_of_t)})


@router.get("/projections", response_model=dict[str, Any], tags=["projections"], operation_id="project_status",
            summary="Position, lag and last error of each read model; bulk runs in progress", responses=PROBLEMS,
            openapi_extra={"x-roles": roles_of_read("project"), "x-read": "project"})
def project_status(ledger: LedgerDep, actor: ActorDep) -> Response:
    """``jamsos project status --json``."""
    from commands.bulk import bulk_runs
    from projections.registry import PROJECTIONS, projection
    from projections.runner import ProjectionRunner, views_engine

    read_as(ledger, actor, "project")
    engine = views_engine(ledger.store)
    runners = [ProjectionRunner(ledger.store, engine, projection(n)) for n in sorted(PROJECTIONS)]
    return cli_json({"projections": [r.status() for r in runners], "bulk_in_progress": bulk_runs(ledger)})


@router.get("/check", response_model=dict[str, Any], tags=["money"], operation_id="check",
            summary="Verify the journal; list open payables, suspense items and clearing balances with their age",
            responses=PROBLEMS, openapi_extra={"x-roles": roles_of_read("check"), "x-read": "check"})
def check(ledger: LedgerDep, actor: ActorDep, on: OnQuery = None,
          max_age_days: Annotated[int | None, Query(ge=0, le=36_500, description="Open payables and suspense "
                                                    "items older than this are breaches too.")] = None) -> Response:
    """``jamsos check --json``: 200 with ``ok`` false on a breach (the CLI exits 8) — the check ran; its finding
    is the answer."""
    from projections.money_views import MoneyViews, checks
    from projections.reports import report_day

    read_as(ledger, actor, "check")
    day = report_day(ledger.clock.now(), parse_day(on), None).on
    return cli_json(checks(MoneyViews(ledger.store), day, max_age_days))

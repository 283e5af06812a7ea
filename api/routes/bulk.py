"""The routes that take a file or run long: cohort import and payment (jobs), the cohort quote, statement upload.

- ``POST /members/imports`` (multipart: ``file`` CSV/XLSX as ``jamsos member import`` reads it, and its
  options) — the file is read and the whole import decided in the request, writing nothing: a bad row anywhere
  answers 422 listing every bad row with its line (nothing imported), as the CLI refuses it; a good file
  answers 202 with the job (``Location: /api/v1/jobs/{id}``) that writes it.
- ``POST /contributions/cohort-payments`` (JSON, the fields of ``jamsos contribution pay --agreement``) — the
  plan and its amount are checked in the request (422 for a wrong amount), the payment runs as a job (202).
- ``POST /contributions/quotes`` — what paying the cohort would cost (a read, 200).
- ``POST /statements`` (multipart: a bank statement file as ``jamsos reconcile import`` reads it) — 201 with
  the CLI's summary; a file of more than :data:`STATEMENT_SYNC_LINES_MAX` credit lines runs as a job (202).
  A file whose every statement was imported before is refused (409, each statement listed).
- ``GET /jobs/{id}`` — a job's state and progress (:mod:`api.jobs`).

A job's id is its command id: the ``Idempotency-Key`` (a POST again with it returns the same job, or resumes an
interrupted one; with another body it is refused, 422), or one the server draws when there is none.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Body, Depends, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.requests import ClientDisconnect

from api import uploads
from api.deps import ActorDep, IdempotencyKey, LedgerDep, read_as
from api.jobs import Job, JobError, JobPool, JobView, TooManyJobs, admit_command, job_for, new_job_id
from api.problems import COMMON_PROBLEMS, problem, problem_responses
from api.routes.commands import API, body_model, requires_role, roles_of
from api.routes.reading import STRICT_QUERY
from commands import bulk
from commands.authorise import READ_ROLES, Actor, authorise
from commands.cohort_file import read_cohort
from commands.messages import ImportCohort, PayCohort, _parse_periods, make
from commands.statement_file import read_statements
from commands.statement_import import import_statement_file, statement_commands
from commands.subject import subject_of
from eventstore.bootstrap import Ledger
from ledger.errors import Forbidden, InvalidInput, LedgerError
from ledger.values import Role

router = APIRouter(prefix=API, dependencies=STRICT_QUERY)

IMPORTS_PATH = "/members/imports"
STATEMENTS_PATH = "/statements"
COHORT_SUFFIXES = (".csv", ".xlsx", ".xlsm")
STATEMENT_SUFFIXES = (".csv", ".xlsx", ".sta", ".mt940", ".txt")
STATEMENT_SYNC_LINES_MAX = 20_000
"""A statement file of more credit lines than this is imported as a job (202) rather than in the request."""
JOB_RETRY_AFTER_S = 5
JOB_PROBLEMS = problem_responses(*sorted({*COMMON_PROBLEMS, 404, 409, 429}))
UPLOAD_PROBLEMS = problem_responses(*sorted({*COMMON_PROBLEMS, 400, 404, 409, 415, 429}))


def get_jobs(request: Request) -> JobPool:
    pool: JobPool = request.app.state.jobs
    return pool


JobsDep = Annotated[JobPool, Depends(get_jobs)]


def _accepted(response: Response, view: JobView, replayed: bool) -> JobView:
    response.headers["Location"] = f"{API}/jobs/{quote(view.id, safe='')}"
    response.headers["Idempotency-Key"] = view.id
    response.headers["Idempotency-Replayed"] = "true" if replayed else "false"
    return view


def _too_many(request: Request) -> JSONResponse:
    return problem(request, 429, "too_many_jobs", 1, "job", "too many jobs queued; retry later",
                   {"Retry-After": str(JOB_RETRY_AFTER_S)})


def _disconnected(request: Request) -> Response:
    """The client went away mid-upload: nothing was read into a command, nothing written."""
    return problem(request, 400, "client_disconnected", 2, "body", "the request body ended early")


# --- cohort import ----------------------------------------------------------------------------------


class ImportForm(BaseModel):
    """The text fields of a cohort import (``jamsos member import``'s options)."""

    model_config = ConfigDict(extra="forbid")

    agreement_id: str = Field(min_length=1, max_length=64, description="Agreement the cohort is enrolled under.")
    region_code: str | None = Field(default=None, description="Region code (default: the agreement's).")
    skip_invalid: bool = Field(default=False, description="Import the good rows; the job's result lists the "
                                                          "rejected ones.")
    strict: bool = Field(default=False, description="Refuse a file with a column (or values) not read.")
    effective_on: date | None = Field(default=None, description="The business day (default today).")


def _admit_import(ledger: Ledger, pool: JobPool, actor: Actor, key: str,
                  upload: uploads.Upload) -> tuple[JobView, bool]:
    form = uploads.form_fields(ImportForm, upload.fields)
    probe = make(ImportCohort, agreement_id=form.agreement_id, region_code=form.region_code, rows=[])
    authorise(actor, probe, subject_of(ledger, probe))  # out of scope: 403 before the file is even read
    try:
        read = read_cohort(upload.path)
    except LedgerError as err:
        raise upload.relabel(err) from None
    if form.strict and read.warnings:
        raise InvalidInput("file", f"{read.warnings[0]} (strict)")
    command = make(ImportCohort, agreement_id=form.agreement_id, region_code=form.region_code, rows=read.rows,
                   invalid_rows=read.invalid, skip_invalid=form.skip_invalid, source_digest=read.digest,
                   effective_on=form.effective_on, command_id=key)

    def check(ctx: Any, on: date) -> int:
        decision = bulk.check_import(ledger, command, ctx, on)
        return len(decision.accepted) + len(decision.newcomers) + decision.resumed

    return admit_command(ledger, pool, actor, command, check, file=upload.label, warnings=read.warnings)


@router.post(
    IMPORTS_PATH, status_code=202, response_model=JobView, tags=["member"], operation_id="member_import",
    summary="Import a cohort file (CSV/XLSX) as a job: any bad row refuses the file at once (422, every line)",
    responses=UPLOAD_PROBLEMS,
    openapi_extra={"x-roles": roles_of("member.import"), "x-command-kind": "member.import",
                   "requestBody": uploads.multipart_body(
                       ImportForm, "CSV or XLSX: nik,name,birth_date,address,village_code,role,declared_income_rp")},
)
async def member_import(request: Request, response: Response, ledger: LedgerDep, jobs: JobsDep,
                        actor: Annotated[Actor, requires_role("member.import")],
                        idempotency_key: IdempotencyKey = None) -> Any:
    """Enrol a cohort from a file, as ``jamsos member import``. The file is read and every row decided in the
    request (nothing written): a bad row refuses the whole file with 422 naming each bad line; else 202 and
    the job writes the members ``ledger.batch_size`` per transaction."""
    key = idempotency_key or new_job_id()
    try:
        async with uploads.received(request, COHORT_SUFFIXES) as upload:
            view, replayed = await run_in_threadpool(_admit_import, ledger, jobs, actor, key, upload)
    except ClientDisconnect:
        return _disconnected(request)
    except TooManyJobs:
        return _too_many(request)
    return _accepted(response, view, replayed)


# --- cohort payment and quote -------------------------------------------------------------------------

if TYPE_CHECKING:
    PayCohortBody = BaseModel
else:
    PayCohortBody = body_model(PayCohort, set())


@router.post(
    "/contributions/cohort-payments", status_code=202, response_model=JobView, tags=["contribution"],
    operation_id="contribution_pay_cohort",
    summary="Pay the same periods for a whole cohort under one payment reference, as a job",
    responses=JOB_PROBLEMS,
    openapi_extra={"x-roles": roles_of("contribution.pay_cohort"), "x-command-kind": "contribution.pay_cohort"},
)
def contribution_pay_cohort(request: Request, response: Response, ledger: LedgerDep, jobs: JobsDep,
                            actor: Annotated[Actor, requires_role("contribution.pay_cohort")],
                            body: Annotated[PayCohortBody, Body()],
                            idempotency_key: IdempotencyKey = None) -> Any:
    """``jamsos contribution pay --agreement``: the amount must be the payable cohort's tariff (checked in the
    request: 422, nothing written); the members are paid by the job, a batch per transaction."""
    fields = body.model_dump(exclude_unset=True)
    command = make(PayCohort, **fields, command_id=idempotency_key or new_job_id())
    try:
        view, replayed = admit_command(ledger, jobs, actor, command,
                                       lambda ctx, on: bulk.check_pay_cohort(ledger, command, ctx, on))
    except TooManyJobs:
        return _too_many(request)
    return _accepted(response, view, replayed)


class QuoteBody(BaseModel):
    """What to quote: an agreement's cohort for some periods, on a day (default today)."""

    model_config = ConfigDict(extra="forbid")

    agreement_id: str = Field(min_length=1, max_length=64)
    periods: list[str] = Field(description="Months: 2026-01, or a range 2026-01..2026-03.")
    effective_on: date | None = None

    @field_validator("periods", mode="before")
    @classmethod
    def _periods(cls, value: Any) -> list[str]:
        return _parse_periods(value)


class Quote(BaseModel):
    agreement_id: str
    periods: list[str]
    on: date
    members_payable: int
    amount_rp: int = Field(description="What the cohort payment must carry (whole rupiah).")
    skipped: dict[str, int] = Field(description="Members not payable, by reason.")


@router.post(
    "/contributions/quotes", response_model=Quote, tags=["contribution"], operation_id="contribution_quote",
    summary="What paying these periods for the agreement's payable cohort would cost (writes nothing)",
    responses=problem_responses(*sorted({*COMMON_PROBLEMS, 404})),
    openapi_extra={"x-roles": sorted({r.value for r in READ_ROLES["contribution.quote"]} | {Role.ADMIN.value})},
)
def contribution_quote(ledger: LedgerDep, actor: ActorDep, body: QuoteBody) -> Any:
    """``jamsos contribution quote``: the members payable and the amount, as a cohort payment would decide."""
    read_as(ledger, actor, "contribution.quote", agreement_id=body.agreement_id)
    return bulk.quote_cohort(ledger, body.agreement_id, body.periods, body.effective_on)


# --- statement upload -------------------------------------------------------------------------------------


class StatementForm(BaseModel):
    """The text fields of a statement upload (``jamsos reconcile import``'s options)."""

    model_config = ConfigDict(extra="forbid")

    payer_id: str = Field(min_length=1, max_length=64, description="The payer whose account the statement is.")
    period_start: date | None = Field(default=None, description="Statement period start, if the file does not say.")
    period_end: date | None = Field(default=None, description="Statement period end.")
    effective_on: date | None = None


class StatementImport(BaseModel):
    """``jamsos reconcile import``'s summary: each statement of the file with its status."""

    model_config = ConfigDict(extra="allow")

    file: str
    file_sha256: str
    format: str
    payer_id: str
    statements: list[dict[str, Any]]
    imported: int
    already_imported: int
    lines: int
    total_rp: int
    failure: JobError | None = Field(default=None, description="The error that stopped the run after some "
                                                               "statements were recorded; the same file again "
                                                               "resumes.")


def _with_failure(summary: dict[str, Any], failure: LedgerError | None) -> dict[str, Any]:
    return {**summary, "failure": None if failure is None else {"field": failure.field, "reason": failure.reason}}


def _import_statement(ledger: Ledger, pool: JobPool, actor: Actor, key: str | None,
                      upload: uploads.Upload) -> tuple[dict[str, Any] | None, JobView | None, bool]:
    form = uploads.form_fields(StatementForm, upload.fields)
    try:
        read = read_statements(upload.path, period_start=form.period_start, period_end=form.period_end)
    except LedgerError as err:
        raise upload.relabel(err) from None
    commands = statement_commands(read, form.payer_id, upload.label, effective_on=form.effective_on,
                                  command_id=key)
    for cmd in commands:  # role and scope for every statement before any is recorded
        if cmd is not None:
            authorise(actor, cmd, subject_of(ledger, cmd))

    def work() -> dict[str, Any]:
        summary, failure = import_statement_file(ledger, actor, read, form.payer_id, upload.label,
                                                 effective_on=form.effective_on, command_id=key)
        return _with_failure(summary, failure)

    if sum(len(s.lines) for s in read.statements) <= STATEMENT_SYNC_LINES_MAX:
        return work(), None, False
    now = ledger.clock.now()
    digest = f"{read.sha256}:{form.model_dump_json()}"
    job = Job(key or new_job_id(), "reconcile.import", actor.name, digest, now, now, file=upload.label)
    submitted, replayed = pool.submit(ledger, job, work)
    return None, pool.snapshot(submitted), replayed


@router.post(
    STATEMENTS_PATH, status_code=201, response_model=StatementImport, tags=["reconcile"],
    operation_id="reconcile_import",
    summary="Upload a payer's bank statement file (CSV, XLSX or MT940): each statement recorded once",
    responses={**UPLOAD_PROBLEMS, 202: {"model": JobView, "description": "A large file: imported by a job."}},
    openapi_extra={"x-roles": roles_of("reconcile.import"), "x-command-kind": "reconcile.import",
                   "requestBody": uploads.multipart_body(
                       StatementForm, "Statement file: .csv, .xlsx or MT940 (.sta/.mt940/.txt)")},
)
async def reconcile_import(request: Request, response: Response, ledger: LedgerDep, jobs: JobsDep,
                           actor: Annotated[Actor, requires_role("reconcile.import")],
                           idempotency_key: IdempotencyKey = None) -> Any:
    """``jamsos reconcile import``: the file is checked whole first (a bad line refuses it, 422, nothing
    recorded); then each statement is recorded once — a file whose every statement was imported before is
    refused (409). With an ``Idempotency-Key`` a retry replays each statement's import."""
    try:
        async with uploads.received(request, STATEMENT_SUFFIXES) as upload:
            summary, view, replayed = await run_in_threadpool(_import_statement, ledger, jobs, actor,
                                                              idempotency_key, upload)
    except ClientDisconnect:
        return _disconnected(request)
    except TooManyJobs:
        return _too_many(request)
    if view is not None:
        _accepted(response, view, replayed)
        return JSONResponse(view.model_dump(mode="json"), status_code=202, headers=dict(response.headers))
    return summary


# --- jobs ---------------------------------------------------------------------------------------------------

JOB_READERS = sorted({Role.OPERATOR.value, Role.FINANCE.value, Role.AUDITOR.value, Role.ADMIN.value})


@router.get(
    "/jobs/{job_id:path}", response_model=JobView, tags=["jobs"], operation_id="job_show",
    summary="A job's state, progress and result (only its principal's, or any for admin / auditor)",
    responses=problem_responses(*sorted({401, 403, 404, 422, 500, 503})),
    openapi_extra={"x-roles": JOB_READERS},
)
def job_show(job_id: str, ledger: LedgerDep, jobs: JobsDep, actor: ActorDep) -> JobView:
    """``queued``, ``running``, ``succeeded`` (with ``result``), ``failed`` (``errors``) or ``interrupted``
    (POST again with the same Idempotency-Key to resume). Another principal's job is not found (404)."""
    if not actor.has(Role.OPERATOR, Role.FINANCE, Role.AUDITOR):
        raise Forbidden("principal", f"{actor.name} starts no jobs and may not read them")
    return job_for(ledger, jobs, actor, job_id)

"""Errors as RFC 9457 problem documents (``application/problem+json``), mapped from the ledger's error kinds once.

Every refusal names its ``field`` and ``reason`` and carries the CLI's exit code (``exit_code``) and error kind
(``code``); a stranger (no, unknown or revoked token) and a principal refused by role or scope hear only
``unauthenticated`` / ``forbidden`` (the precise reason goes to the log). Nothing unexpected ever reaches a
response: a 5xx says only "internal error" and the request id that the log line carries.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from eventstore.chain import ChainBroken
from ledger.errors import (
    AlreadyDone,
    ConcurrencyConflict,
    Forbidden,
    IdempotencyConflict,
    InvalidInput,
    LedgerError,
    NotFound,
    RuleViolation,
    Unauthenticated,
)

log = logging.getLogger("jamsos.http")

PROBLEM_TYPE = "application/problem+json"
RETRY_AFTER_S = 1
"""What a client told to retry (concurrent change, store unavailable) waits, in seconds."""
STORE_RETRY_AFTER_S = 5
STORE_ERROR_LOGGED_MAX = 300
"""How much of a driver's message a 503's log line keeps (its first line: the server's words, not the query)."""


def one_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else ""

STATUS_OF: list[tuple[type[LedgerError], int]] = [
    (Unauthenticated, 401),
    (Forbidden, 403),
    (NotFound, 404),
    (AlreadyDone, 409),
    (ConcurrencyConflict, 409),
    (ChainBroken, 409),
    (IdempotencyConflict, 422),
    (RuleViolation, 422),
    (InvalidInput, 422),
]
"""The one mapping of the ledger's error kinds (the CLI's exit codes) to HTTP statuses; the first match wins, so a
subclass (``AlreadyDone`` of ``RuleViolation``) is listed before its base."""


class Problem(BaseModel):
    """An RFC 9457 problem document with the ledger's ``field`` / ``reason`` and the CLI's error kind and exit code."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(default="about:blank", description="A URI naming the problem kind.")
    title: str
    status: int = Field(ge=400, le=599)
    detail: str
    code: str = Field(description="The error kind: invalid_input, rule_violation, already_done, not_found, ...")
    exit_code: int = Field(description="The CLI's exit code for the same refusal.")
    field: str = Field(description="What the caller must fix.")
    reason: str = Field(description="Why it was refused.")
    request_id: str = Field(description="Quote it when reporting a problem: the server's log line carries it.")
    errors: list[str] | None = Field(default=None, description="Every refused row or line of a file, if any.")


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` of a route: each status a route may answer with a problem document."""
    return {status: {"model": Problem, "content": {PROBLEM_TYPE: {}}, "description": _TITLES.get(status, "Problem")}
            for status in statuses}


COMMON_PROBLEMS = (401, 403, 413, 422, 500, 503)
_TITLES = {400: "Bad request", 401: "Unauthenticated", 403: "Forbidden", 404: "Not found", 405: "Method not allowed",
           406: "Not acceptable", 409: "Conflict", 413: "Content too large", 415: "Unsupported media type",
           422: "Unprocessable content", 429: "Too many requests", 500: "Internal error",
           503: "Store unavailable"}


def request_id_of(request: Request) -> str:
    return str(getattr(request.state, "request_id", "-"))


def problem(request: Request, status: int, code: str, exit_code: int, field: str, reason: str,
            headers: dict[str, str] | None = None, errors: list[str] | None = None) -> JSONResponse:
    body = Problem(type=f"https://jamsos.example/problems/{code}", title=_TITLES.get(status, "Problem"),
                   status=status, detail=f"{field}: {reason}", code=code, exit_code=exit_code, field=field,
                   reason=reason, request_id=request_id_of(request), errors=errors)
    return JSONResponse(body.model_dump(exclude_none=True), status_code=status, media_type=PROBLEM_TYPE,
                        headers=headers)


def status_of(err: LedgerError) -> int:
    return next((status for kind, status in STATUS_OF if isinstance(err, kind)), 500)


def ledger_problem(request: Request, err: LedgerError) -> JSONResponse:
    status = status_of(err)
    if isinstance(err, Unauthenticated | Forbidden):  # the precise reason is for the log, not the caller
        log.info("refused %s %s: %s (request %s)", request.method, route_of(request), err, request_id_of(request))
        field = "token" if isinstance(err, Unauthenticated) else "principal"
        headers = {"WWW-Authenticate": 'Bearer realm="jamsos"'} if status == 401 else None
        return problem(request, status, err.code, err.exit_code, field, err.code, headers)
    headers = {"Retry-After": str(RETRY_AFTER_S)} if isinstance(err, ConcurrencyConflict) else None
    rows = [str(e) for e in getattr(err, "errors", ())] + [str(d) for d in getattr(err, "details", ())]
    return problem(request, status, err.code, err.exit_code, err.field, err.reason, headers, rows or None)


def route_of(request: Request) -> str:
    """The route's template (``/api/v1/claims/{claim_id}/approve``), never the raw path: no NIK reaches a log."""
    route = request.scope.get("route")
    return getattr(route, "path_format", None) or getattr(route, "path", None) or "<unmatched>"


def _store_down_kinds() -> tuple[type[Exception], ...]:
    """Errors that mean the store (or the key store, or the views database) cannot be reached right now."""
    import sqlite3

    import psycopg
    import psycopg_pool
    import sqlalchemy.exc
    from eventsourcing.persistence import InterfaceError, OperationalError

    return (OperationalError, InterfaceError, sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError,
            psycopg.OperationalError, psycopg_pool.PoolTimeout, sqlite3.OperationalError, ConnectionError)


def validation_problem(request: Request, err: RequestValidationError) -> JSONResponse:
    """The first of pydantic's errors as ``field`` / ``reason`` (``unknown field`` for a field the route lacks)."""
    errors = list(err.errors())
    first: dict[str, Any] = dict(errors[0]) if errors else {"loc": ("body",), "msg": "invalid"}
    where = tuple(first.get("loc") or ("body",))
    loc = [str(p) for p in where if p not in ("body", "query", "path", "header")]
    field = ".".join(loc) or str(where[0])
    message = "unknown field" if first.get("type") == "extra_forbidden" else str(first.get("msg", "invalid"))
    if first.get("type") == "json_invalid":
        field, message = "body", "not JSON: " + str(dict(first.get("ctx") or {}).get("error", "malformed"))
    return problem(request, 422, InvalidInput.code, InvalidInput.exit_code, field, message)


BODY_STATUSES = (400, 415)
"""The statuses a route answers about its body before its dependencies run (so before the token is checked)."""


async def _stranger(request: Request) -> Unauthenticated | Forbidden | None:
    """The refusal of a request whose bearer token names no active principal, or a principal none of whose roles
    the route serves (None for a principal the route serves, or a route that needs no token)."""
    from api.deps import outside_roles
    from commands.authorise import authenticate

    route = request.scope.get("route")
    if route is None or not (getattr(route, "openapi_extra", None) or {}).get("x-roles"):
        return None
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    try:
        actor = await run_in_threadpool(  # a store read: off the event loop, as every route's own check is
            authenticate, request.app.state.ledger, token.strip() if scheme.lower() == "bearer" else None)
    except Unauthenticated as err:
        return err
    return outside_roles(request, actor)


class WebErrors(Protocol):
    """The dashboard's error pages: for a request :meth:`wants` (a page, not an API route), a failure is a page."""

    def wants(self, request: Request) -> bool: ...

    def page(self, request: Request, err: Exception) -> Response: ...


def install(app: FastAPI, web: WebErrors | None = None) -> None:
    """Register the exception handlers that turn every failure into a problem document (or, for a dashboard page,
    into the page ``web`` makes of it)."""
    store_down = _store_down_kinds()

    @app.exception_handler(LedgerError)
    async def _ledger(request: Request, err: LedgerError) -> Response:
        if web is not None and web.wants(request):
            return await run_in_threadpool(web.page, request, err)  # it reads the session: off the event loop
        return ledger_problem(request, err)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, err: RequestValidationError) -> Response:
        if web is not None and web.wants(request):
            return await run_in_threadpool(web.page, request, err)
        stranger = await _stranger(request)
        if stranger is not None:  # a stranger (or a principal the route does not serve) learns nothing about the
            # body, not even that it is malformed
            return ledger_problem(request, stranger)
        return validation_problem(request, err)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, err: StarletteHTTPException) -> Response:
        if web is not None and web.wants(request):
            return await run_in_threadpool(web.page, request, err)
        if err.status_code in BODY_STATUSES:
            stranger = await _stranger(request)
            if stranger is not None:  # as for a malformed body: a stranger hears only 401
                return ledger_problem(request, stranger)
        if err.status_code == 400 and isinstance(err.__cause__, UnicodeDecodeError):
            # a JSON body that is not UTF-8 (RFC 8259 §8.1) is not JSON: refused as a malformed one is
            return problem(request, 422, InvalidInput.code, InvalidInput.exit_code, "body", "not JSON: not UTF-8")
        code = {404: "not_found", 405: "method_not_allowed", 406: "not_acceptable", 413: "too_large",
                415: "unsupported_media_type"}.get(err.status_code, "http_error")
        field = {404: "path", 405: "method", 406: "accept", 413: "body", 415: "content-type"}.get(
            err.status_code, "request")
        exit_code = NotFound.exit_code if err.status_code == 404 else InvalidInput.exit_code
        return problem(request, err.status_code, code, exit_code, field, str(err.detail),
                       dict(err.headers) if err.headers else None)

    async def _store_down(request: Request, err: Exception) -> JSONResponse:
        log.warning("store unavailable on %s %s (request %s): %s: %s", request.method, route_of(request),
                    request_id_of(request), type(err).__name__, one_line(err)[:STORE_ERROR_LOGGED_MAX])
        return problem(request, 503, "store_unavailable", 1, "store", "the store cannot be reached; retry",
                       {"Retry-After": str(STORE_RETRY_AFTER_S)})

    for kind in store_down:
        app.add_exception_handler(kind, _store_down)


def internal_error(request: Request, err: BaseException) -> JSONResponse:
    """A 500 that says nothing but the request id; the log line has the traceback and the same id."""
    log.error("internal error on %s %s (request %s)", request.method, route_of(request), request_id_of(request),
              exc_info=err)
    return problem(request, 500, "internal_error", 1, "request",
                   f"internal error; quote request id {request_id_of(request)}")

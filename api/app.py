"""The HTTP application: one :class:`~eventstore.bootstrap.Ledger` per process, the routers, the guards.

``create_app(settings)`` opens the store named by the settings (the same ``JAMSOS_STORE`` / ``--store`` as the
CLI); ``create_app(settings, ledger=...)`` serves an open ledger (tests). Every route is under ``/api/v1`` except
the probes ``/healthz`` and ``/readyz``.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response
from fastapi.middleware.cors import CORSMiddleware

from api import problems
from api.jobs import JobPool
from api.middleware import RequestGuard
from api.routes import ROUTERS, UPLOAD_PATHS
from api.streams import EventStreams
from api.web import install as install_web
from api.web.core import PageErrors, SignInNeeded
from api.web.statement_upload import UPLOAD_PATH as WEB_STATEMENTS_PATH
from eventstore.bootstrap import Ledger, bootstrap
from eventstore.group_commit import GroupCommitter
from eventstore.settings import Settings, StoreSettings
from eventstore.settings import settings as load_settings
from projections.report_cache import ReportCache

API_PREFIX = "/api/v1"
TITLE = "jamsos-ledger HTTP API"
DESCRIPTION = (
    "Event-sourced claims and payment ledger of BPJS Ketenagakerjaan (BPU) cover bought by third parties. "
    "Every command of the CLI is a route (writes need `Idempotency-Key` to be retried safely); every report is a "
    "route (JSON, or CSV / XLSX by `Accept`). Authenticate with `Authorization: Bearer <token>` of a principal "
    "(`jamsos principal add`); each route's `x-roles` lists the roles that may call it, and a principal's scope "
    "restricts what it sees. Errors are RFC 9457 problem documents with `field`, `reason` and the CLI's exit code."
)


def create_app(settings: Settings | None = None, ledger: Ledger | None = None) -> FastAPI:
    settings = settings or load_settings()
    owned = ledger is None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if app.state.ledger is None:
            app.state.ledger = bootstrap(settings.store)
        grouped = settings.http_group_commit and app.state.ledger.committer is None
        if grouped:
            app.state.ledger.committer = GroupCommitter(app.state.ledger.store)
        try:
            yield
        finally:
            if grouped and app.state.ledger is not None:
                app.state.ledger.committer = None
            app.state.jobs.shutdown()  # the running jobs finish (their store is still open), queued ones drop
            app.state.streams.close()
            app.state.web_sessions.dispose()
            if owned and app.state.ledger is not None:
                app.state.ledger.close()
                app.state.ledger = None

    app = FastAPI(title=TITLE, description=DESCRIPTION, version="1", lifespan=lifespan,
                  openapi_url=f"{API_PREFIX}/openapi.json", docs_url="/docs", redoc_url=None)
    app.state.ledger = ledger
    app.state.settings = settings
    app.state.reports = ReportCache(settings.http_reports_kept)  # reports by log head (projections.report_cache)
    app.state.writers = threading.BoundedSemaphore(settings.http_writers_max)
    app.state.jobs = JobPool(settings.http_jobs_max)
    app.state.streams = EventStreams()  # the open event streams, closed on shutdown (api/streams.py)
    problems.install(app, web=PageErrors())
    for router in ROUTERS:
        app.include_router(router)
    install_web(app, settings.web_sessions or StoreSettings.from_url(settings.store).default_web_sessions_url())
    app.add_exception_handler(SignInNeeded, _sign_in)
    if settings.http_cors_origins:  # closed by default: no cross-origin browser may call the API
        app.add_middleware(CORSMiddleware, allow_origins=list(settings.http_cors_origins),
                           allow_methods=["GET", "POST"], allow_headers=["Authorization", "Content-Type",
                                                                          "Idempotency-Key", "Last-Event-ID"],
                           expose_headers=["Idempotency-Replayed", "X-Request-ID", "Retry-After", "Location"])
    app.add_middleware(RequestGuard, body_max_bytes=settings.http_body_max_bytes,
                       upload_max_bytes=settings.http_upload_max_bytes,
                       upload_paths=(*UPLOAD_PATHS, WEB_STATEMENTS_PATH))
    return app


async def _sign_in(request: Request, err: Exception) -> Response:
    return PageErrors().page(request, err)


def app_from_env() -> FastAPI:
    """The uvicorn factory (``uvicorn --factory api.app:app_from_env``): settings from the environment."""
    return create_app(load_settings())

"""`jamsos serve`: the HTTP API (FastAPI) under uvicorn, on the store of ``--store`` / ``JAMSOS_STORE``."""

from __future__ import annotations

import os
import sys
from typing import Annotated, Any

import typer

from cli.common import StoreOpt, fail
from eventstore.settings import settings as load_settings
from ledger.errors import InvalidInput

verbs = typer.Typer()
"""This module's root-level verbs (listed in :data:`cli.verbs.VERBS`)."""

STREAMS_SHUTDOWN_GRACE_S = 5
"""With several workers: how long a stopping worker waits for open responses (event streams) before cancelling
them (their clients resume from ``Last-Event-ID``)."""
STARTUP_FAILURE_EXIT = 3
"""uvicorn's exit status when the server could not start."""


@verbs.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on (default 127.0.0.1, loopback only; "
                                             "JAMSOS_HTTP_HOST).")] = None,
    port: Annotated[int | None, typer.Option(min=1, max=65535, help="TCP port (default 8000; JAMSOS_HTTP_PORT).")]
    = None,
    workers: Annotated[int | None, typer.Option(min=1, max=32, help="Worker processes (default 1; "
                                                "JAMSOS_HTTP_WORKERS).")] = None,
    store: StoreOpt = None,
    log_level: Annotated[str, typer.Option(help="uvicorn log level: critical, error, warning, info, debug.")]
    = "info",
) -> None:
    """Serve the HTTP API: every command and report under /api/v1 (OpenAPI at /api/v1/openapi.json, docs at /docs),
    /healthz and /readyz. Callers authenticate with `Authorization: Bearer <token>` (`jamsos principal add`)."""
    import uvicorn

    if log_level not in ("critical", "error", "warning", "info", "debug"):
        fail(InvalidInput("log_level", f"must be critical, error, warning, info or debug, got {log_level!r}"))
    overrides: dict[str, Any] = {k: v for k, v in {"store": store, "http_host": host, "http_port": port,
                                   "http_workers": workers}.items() if v is not None}
    try:
        settings = load_settings(**overrides)
    except InvalidInput as err:
        fail(err)
        return
    os.environ["JAMSOS_STORE"] = settings.store  # the worker processes build their settings from the environment
    options: dict[str, Any] = {"factory": True, "host": settings.http_host, "port": settings.http_port,
                               "log_level": log_level, "proxy_headers": False, "server_header": False,
                               "access_log": False}
    if settings.http_workers == 1:  # our server: it ends the open event streams first when it stops
        from api.streams import Server

        server = Server(uvicorn.Config("api.app:app_from_env", **options))
        server.run()
        if not server.started:  # as uvicorn.run: the port was taken, the app failed to start...
            raise typer.Exit(STARTUP_FAILURE_EXIT)
        return
    # several workers: uvicorn makes their servers; an open event stream is cancelled after the grace period
    uvicorn.run("api.app:app_from_env", workers=settings.http_workers,
                timeout_graceful_shutdown=STREAMS_SHUTDOWN_GRACE_S, **options)


PROBE_TIMEOUT_S = 5.0


@verbs.command()
def probe(
    url: Annotated[str, typer.Option(help="The readiness URL of a running API.")] = "http://127.0.0.1:8000/readyz",
    timeout_s: Annotated[float, typer.Option("--timeout", min=0.1, max=60, help="Seconds to wait.")] = PROBE_TIMEOUT_S,
) -> None:
    """Ask a running API whether it is ready (GET /readyz): exit 0 when it is, 1 when not (container health checks)."""
    import urllib.error
    import urllib.request

    if not url.startswith(("http://", "https://")):
        fail(InvalidInput("url", f"must be an http:// or https:// URL, got {url!r}"))
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            ready = response.status == 200
    except (urllib.error.URLError, OSError) as exc:
        sys.stderr.write(f"not ready: {exc}\n")
        raise typer.Exit(1) from None
    if not ready:
        raise typer.Exit(1)
    sys.stdout.write("ready\n")

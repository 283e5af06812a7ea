"""What every request goes through: a request id, size limits, security headers, CORS (closed unless configured),
and one log line per request without personal data (the route's template, never the raw path or query)."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.requests import Request

from api.problems import internal_error, problem, route_of

log = logging.getLogger("jamsos.http.access")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=()",
    "cache-control": "no-store",
}
"""Sent on every response. ``no-store``: reports and member data must not sit in a shared cache."""
WEB_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
           "form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
"""The dashboard's pages load their script, style and chart library from this server only, run no inline
script and post forms only here."""
NOT_WEB_PATHS = ("/api/", "/healthz", "/readyz", "/docs", "/redoc")
"""Paths that are not the dashboard's (their errors stay problem documents; the strict policy applies)."""


def is_web_path(path: str) -> bool:
    return not path.startswith(NOT_WEB_PATHS)


DOCS_PATHS = ("/docs", "/redoc")
"""The interactive docs load their script from the page itself: a looser content security policy there."""
REQUEST_ID_HEADER = "x-request-id"
REQUEST_ID_LEN_MAX = 64


class TooLarge(Exception):
    pass


class RequestGuard:
    """Pure ASGI middleware (it also sees streamed bodies): gives each request an id (``X-Request-ID``, or the
    caller's if it is short and printable), refuses a body larger than the route allows with 413 (by its
    ``Content-Length`` before reading, and by counting while it streams), adds the security headers, logs one
    line per request, and turns anything unexpected into a 500 problem that carries only the request id.

    Invariant: no response leaves without ``x-request-id`` and the security headers. ``Server-Timing: app;dur=``
    is the time until the response started, in milliseconds (``bench/web.py`` reads it: the server's own time).
    """

    def __init__(self, app: ASGIApp, body_max_bytes: int, upload_max_bytes: int,
                 upload_paths: tuple[str, ...] = ()) -> None:
        self.app = app
        self.body_max_bytes = body_max_bytes
        self.upload_max_bytes = upload_max_bytes
        self.upload_paths = upload_paths

    def limit_for(self, scope: Scope) -> int:
        path = scope.get("path", "")
        return self.upload_max_bytes if path.endswith(self.upload_paths) and self.upload_paths else self.body_max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        limit = self.limit_for(scope)
        status = {"code": 0, "sent": False}
        docs = scope.get("path", "").startswith(DOCS_PATHS)
        web = is_web_path(scope.get("path", ""))

        async def send_wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                status["sent"] = True
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() not in _OURS]
                headers.append((b"x-request-id", request_id.encode()))
                elapsed_ms = (time.perf_counter() - started) * 1000  # the handler's work: the body follows at once
                headers.append((b"server-timing", f"app;dur={elapsed_ms:.1f}".encode()))
                for key, value in SECURITY_HEADERS.items():
                    if key == "content-security-policy" and (docs or web):
                        if web:
                            headers.append((key.encode(), WEB_CSP.encode()))
                        continue
                    headers.append((key.encode(), value.encode()))
                message["headers"] = headers
            await send(message)

        declared = _content_length(scope)
        try:
            if declared is not None and declared > limit:
                raise TooLarge
            received = {"bytes": 0}

            async def receive_counted() -> Message:
                message = await receive()
                if message["type"] == "http.request":
                    received["bytes"] += len(message.get("body", b""))
                    if received["bytes"] > limit:
                        raise TooLarge
                return message

            await self.app(scope, receive_counted, send_wrapped)
        except TooLarge:
            if not status["sent"]:
                response = problem(Request(scope), 413, "too_large", 2, "body",
                                   f"the request body is larger than {limit:,} bytes".replace(",", "."))
                response.headers["connection"] = "close"
                await response(scope, receive, send_wrapped)
        except Exception as err:  # anything a handler did not turn into a problem
            if not status["sent"]:
                await internal_error(Request(scope), err)(scope, receive, send_wrapped)
            else:
                log.error("error after the response started (request %s)", request_id, exc_info=err)
        finally:
            elapsed_ms = (time.perf_counter() - started) * 1000
            principal = scope.get("state", {}).get("principal", "-")
            log.info("%s %s %s %.1fms principal=%s request=%s", scope.get("method"), route_of(Request(scope)),
                     status["code"] or 500, elapsed_ms, principal, request_id)


_OURS = {b"x-request-id", b"server-timing", *(k.encode() for k in SECURITY_HEADERS)}


def _request_id(scope: Scope) -> str:
    for key, value in scope.get("headers", []):
        if key == REQUEST_ID_HEADER.encode():
            text = value.decode("latin-1")
            if 0 < len(text) <= REQUEST_ID_LEN_MAX and all(c.isalnum() or c in "-_." for c in text):
                return str(text)
    return str(uuid.uuid4().hex)


def _content_length(scope: Scope) -> int | None:
    for key, value in scope.get("headers", []):
        if key == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None

"""The event feed for services without a broker: the pseudonymous event messages the relay publishes
(:class:`projections.event_messages.EventMessage`), read by page (``GET /api/v1/events``) or followed as
Server-Sent Events (``GET /api/v1/events/stream``).

Both are filtered by the reader's scope (:mod:`projections.event_scope`): ``all`` sees every event, a payer or
region scope the events of the agreements, members, claims and money records inside it. Positions past events the
reader may not see still advance its cursor (``next_after``, the stream's resume point), so it resumes correctly;
it never learns their type or number beyond the positions themselves.

The stream is a plain :class:`~starlette.responses.StreamingResponse` over an async generator (sse-starlette would
not see a uvicorn run in a thread stop; see :mod:`api.streams` for how a stream ends on shutdown). Each event is
``id: <position>`` / ``event: <type>`` / ``data: <message JSON>``; a comment ``: keepalive`` follows
:data:`HEARTBEAT_S` of silence so proxies keep the connection open; the stream resumes after ``Last-Event-ID``
(what an ``EventSource`` sends when it reconnects) or else ``?after=``, and ends when the client goes away, the
server stops, or the principal's token stops working (checked at each heartbeat).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

import anyio
from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from api.deps import ActorDep, LedgerDep, read_as
from api.problems import problem_responses
from api.routes.reading import STRICT_QUERY
from api.streams import EventStreams
from commands.authorise import READ_ROLES, Actor, authenticate
from eventstore.bootstrap import Ledger
from ledger.errors import Unauthenticated
from ledger.values import Role
from projections.event_feed import LIMIT_DEFAULT, LIMIT_MAX, FeedPage, feed_page
from projections.event_messages import EventMessage

API = "/api/v1"
READ = "events"
POSITION_MAX = 2**63 - 2
"""The largest position a caller may name: the next one (``after + 1``) must still fit a signed 64-bit integer."""
POLL_S = 1.0
"""How often an open stream that has caught up reads the log again."""
HEARTBEAT_S = 15.0
"""Silence after which a stream sends ``: keepalive`` (and re-checks the principal's token)."""
RETRY_MS = 2000
"""The reconnection delay the stream asks an ``EventSource`` to wait (SSE ``retry:``)."""
STREAM_PAGE = LIMIT_MAX
"""Events a stream reads per store read."""
EVENT_STREAM = "text/event-stream"

router = APIRouter(prefix=API, tags=["events"], dependencies=STRICT_QUERY)
ROLES = sorted({r.value for r in READ_ROLES[READ]} | {Role.ADMIN.value})

After = Annotated[int, Query(ge=0, le=POSITION_MAX, description="Return events after this position (0: from the "
                                                                 "start; a page's `next_after` to continue).")]


class EventPage(BaseModel):
    """One page of the feed: resume with ``after=next_after``; ``next_after == head`` means caught up."""

    events: list[EventMessage] = Field(description="In position order; only events inside the reader's scope.")
    next_after: int = Field(ge=0, description="The last position this page examined: the next page's `after`. "
                                              "It may pass positions of events outside the reader's scope.")
    head: int = Field(ge=0, description="The log's last position when the page was read.")


@router.get("/events", response_model=EventPage, summary="A page of the event feed (pseudonymous event messages)",
            responses=problem_responses(401, 403, 422, 500, 503), openapi_extra={"x-roles": ROLES, "x-read": "events"})
def events(ledger: LedgerDep, actor: ActorDep, after: After = 0,
           limit: Annotated[int, Query(ge=1, le=LIMIT_MAX, description="Most events in the page.")] = LIMIT_DEFAULT,
           ) -> EventPage:
    """The events after ``after`` that the principal's scope reaches, at most ``limit``, in position order: the same
    messages the broker relay publishes. No personal data (members by pseudonymous id only)."""
    read_as(ledger, actor, READ)
    page = feed_page(ledger.store, actor.scope, after, limit)
    return EventPage(events=list(page.events), next_after=page.next_after, head=page.head)


@router.get("/events/stream", response_class=StreamingResponse, summary="Follow the event feed (Server-Sent Events)",
            responses={200: {"content": {EVENT_STREAM: {"schema": {"type": "string"}}},
                             "description": "`id: <position>`, `event: <type>`, `data: <EventMessage JSON>` per "
                                            "event; `: keepalive` comments while idle."},
                       **problem_responses(401, 403, 422, 500, 503)},
            # x-stream: the response does not end by itself
            openapi_extra={"x-roles": ROLES, "x-read": "events", "x-stream": True})
def stream(request: Request, ledger: LedgerDep, actor: ActorDep, after: After = 0,
           last_event_id: Annotated[int | None, Header(alias="Last-Event-ID", ge=0, le=POSITION_MAX,
                                                       description="Resume after this position (wins over "
                                                                   "`after`).")] = None,
           ) -> StreamingResponse:
    """Every event after ``Last-Event-ID`` (or ``after``) that the principal's scope reaches, then each new one as
    it is written, until the client disconnects or the server stops."""
    read_as(ledger, actor, READ)
    streams: EventStreams = request.app.state.streams
    token = request.headers.get("authorization", "").partition(" ")[2].strip()
    start = last_event_id if last_event_id is not None else after
    return StreamingResponse(_follow(ledger, actor, token, start, streams), media_type=EVENT_STREAM,
                             headers={"X-Accel-Buffering": "no"})


def frame(message: EventMessage) -> str:
    """One event as an SSE block (the JSON is one line, so one ``data:`` line)."""
    return f"id: {message.position}\nevent: {message.type}\ndata: {message.model_dump_json()}\n\n"


async def _follow(ledger: Ledger, actor: Actor, token: str, after: int, streams: EventStreams) -> AsyncIterator[str]:
    """The stream's body: read a page, send it; when caught up, wait :data:`POLL_S`; every :data:`HEARTBEAT_S`
    check the token (ending the stream if it stopped working) and, if nothing was sent meanwhile, send a comment."""
    with streams.opened():
        yield f"retry: {RETRY_MS}\n\n"
        cursor = after
        sent_at = checked_at = anyio.current_time()
        while not streams.closed:
            page: FeedPage = await anyio.to_thread.run_sync(feed_page, ledger.store, actor.scope, cursor, STREAM_PAGE)
            for message in page.events:
                yield frame(message)
            now = anyio.current_time()
            if page.events:
                sent_at = now
            cursor = page.next_after
            if now - checked_at >= HEARTBEAT_S:
                if not await anyio.to_thread.run_sync(_still_valid, ledger, token):
                    return
                checked_at = now
                if now - sent_at >= HEARTBEAT_S:
                    yield ": keepalive\n\n"
                    sent_at = now
            if cursor < page.head:  # more to read now
                continue
            if not await streams.pause(POLL_S):
                return


def _still_valid(ledger: Ledger, token: str) -> bool:
    try:
        authenticate(ledger, token)
    except Unauthenticated:
        return False
    return True

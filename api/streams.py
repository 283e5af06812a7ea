"""Open event streams (Server-Sent Events) and how they end when the server stops.

An ASGI server tells an application nothing about its shutdown while a response is still being sent: uvicorn stops
accepting connections and then *waits* for every open response to finish, so an endless stream would keep it from
exiting. Each application therefore keeps an :class:`EventStreams` (``app.state.streams``): every stream checks
it at each tick and ends its response cleanly once it is closed. :class:`Server` (uvicorn's server, used by
``jamsos serve`` and the tests) closes it first thing on shutdown; the application's lifespan closes it too.
A server run another way (``uvicorn --workers N``) should set ``--timeout-graceful-shutdown``: a stream is then
cancelled, and its client resumes elsewhere from its ``Last-Event-ID`` (the feed is resumable).
"""

from __future__ import annotations

import socket
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager

import anyio
import uvicorn

TICK_S = 0.1
"""How often a waiting stream looks whether it must end (its shutdown latency)."""

_ALL: weakref.WeakSet[EventStreams] = weakref.WeakSet()


class EventStreams:
    """The open event streams of one application. Invariant: once :meth:`close` ran, every open stream ends its
    response within :data:`TICK_S` of its current store read, and a new one ends at once."""

    def __init__(self) -> None:
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self.open = 0
        _ALL.add(self)

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def close(self) -> None:
        self._closed.set()

    @contextmanager
    def opened(self) -> Iterator[None]:
        """Count one stream as open while the block runs."""
        with self._lock:
            self.open += 1
        try:
            yield
        finally:
            with self._lock:
                self.open -= 1

    async def pause(self, seconds: float) -> bool:
        """Wait ``seconds`` (in :data:`TICK_S` steps) unless closed; whether the streams are still open."""
        deadline = time.monotonic() + seconds
        while not self.closed:
            left = deadline - time.monotonic()
            if left <= 0:
                return True
            await anyio.sleep(min(TICK_S, left))
        return False


def close_all() -> None:
    """Close the event streams of every application of this process (a server process serves one)."""
    for streams in list(_ALL):
        streams.close()


class Server(uvicorn.Server):
    """uvicorn's server, which on shutdown first ends the open event streams of ``streams`` (every application of
    the process when ``None``), so that its wait for open responses is short."""

    def __init__(self, config: uvicorn.Config, streams: EventStreams | None = None) -> None:
        super().__init__(config)
        self.streams = streams

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if self.streams is not None:
            self.streams.close()
        else:
            close_all()
        await super().shutdown(sockets)

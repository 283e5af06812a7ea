"""Serving the HTTP API in tests: in process (``client``) and under a real uvicorn on loopback (``served``)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn
from fastapi.testclient import TestClient

from api.app import create_app
from api.streams import Server
from eventstore.bootstrap import Ledger
from eventstore.settings import Settings
from ledger.values import Role
from tests.conftest import grant

SERVER_START_TIMEOUT_S = 10.0


def client(ledger: Ledger, settings: Settings | None = None) -> TestClient:
    """The API in process, on ``ledger``: 5xx come back as responses (as a real server sends them)."""
    return TestClient(create_app(settings or Settings(store="memory://"), ledger=ledger),
                      raise_server_exceptions=False)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def served(ledger: Ledger, settings: Settings | None = None, **uvicorn_options: Any) -> Iterator[str]:
    """A real uvicorn server on a free loopback port serving ``ledger``; yields its base URL."""
    port = free_port()
    app = create_app(settings or Settings(store="memory://"), ledger=ledger)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on",
                            **uvicorn_options)
    server = Server(config, app.state.streams)  # ends open event streams first on shutdown
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while not server.started:
        assert thread.is_alive(), "uvicorn stopped while starting"
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=SERVER_START_TIMEOUT_S)


def bearer(token: str, **headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **headers}


def role_tokens(ledger: Ledger, prefix: str = "http", scope: str = "all") -> dict[Role, str]:
    """One principal per role (``<prefix>-<role>``) in ``scope``; their tokens by role."""
    return {role: grant(ledger, f"{prefix}-{role.value}", role, scope=scope) for role in Role}
